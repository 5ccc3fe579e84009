// The gateway under hostile traffic on loopback: raw bytes a real client library would never
// send. Every case must end in a clear 4xx (or a closed connection) and leave the server up.
// Bounded: every exchange gives up after a few seconds, every loop has a fixed count.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway_fixture.h"
#include "raw_socket.h"

using namespace smacs;
using namespace smacs::test;

namespace {

int status_of(const std::string& reply) {
  if (reply.rfind("HTTP/1.1 ", 0) != 0) return 0;
  return std::atoi(reply.c_str() + 9);
}

// Sends `bytes` on a new connection; the server's whole reply.
std::string roundtrip(int port, std::string_view bytes, int wait_ms = 5000) {
  const int fd = connect_to(port);
  if (fd < 0) return "";
  send_all(fd, bytes);
  std::string reply = read_until_close(fd, wait_ms);
  ::close(fd);
  return reply;
}

std::string http_post(const std::string& path, const std::string& body,
                      const std::string& extra = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra +
         "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

std::string http_get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + extra + "Connection: close\r\n\r\n";
}

std::string nested(size_t depth) {
  return R"({"model":"smacs","messages":[{"role":"user","content":"x"}],"x":)" +
         std::string(depth, '[') + std::string(depth, ']') + "}";
}

struct Hostile : ::testing::Test {
  std::unique_ptr<Serving<ReplayServer>> replay = start_replay();
  GatewayFixture gw{{{kOpenPool[0], url(replay->port)}, {kOpenPool[1], url(replay->port)}},
                    5000,
                    5000,
                    {},
                    {},
                    [](ServerConfig& c) {
                      c.max_body_bytes = 1 << 20;
                      c.header_timeout_ms = 300;
                      c.idle_timeout_ms = 2000;
                    }};
  int port() const { return gw.running->port; }
  void expect_alive() {
    EXPECT_EQ(status_of(roundtrip(port(), http_get("/health"))), 200) << "the server is down";
  }
};

}  // namespace

TEST_F(Hostile, DeepJsonNestingIsRefusedNotACrash) {
  // The body that crashed the gateway: 60,000 levels in a 120 KB body.
  std::string reply = roundtrip(port(), http_post("/v1/chat/completions", nested(60000)));
  EXPECT_EQ(status_of(reply), 400) << reply.substr(0, 300);
  EXPECT_NE(reply.find("deeper than 128"), std::string::npos) << reply.substr(0, 300);
  // Nesting up to the body limit, in a string-free document and inside a message.
  reply = roundtrip(port(), http_post("/v1/chat/completions", std::string((1 << 20) - 10, '[')));
  EXPECT_EQ(status_of(reply), 400);
  EXPECT_EQ(status_of(roundtrip(port(), http_post("/v1/chat/completions", nested(129)))), 400);
  // Brackets inside strings are text, not nesting: this one is fine and answered.
  json ok = chat("smacs", std::string(5000, '[') + " what?");
  reply = roundtrip(port(), http_post("/v1/chat/completions", ok.dump()));
  EXPECT_NE(status_of(reply), 0);
  EXPECT_EQ(reply.find("deeper"), std::string::npos) << "brackets in a string are not nesting";
  EXPECT_EQ(status_of(roundtrip(port(), http_post("/v1/feedback", std::string(200000, '[')))), 400);
  expect_alive();
}

// The same bodies at the Responses and Messages doors: refused in each API's shape.
TEST_F(Hostile, TheOtherDoorsRefuseDeepAndBrokenBodies) {
  for (const std::string path : {"/v1/responses", "/v1/messages"}) {
    const bool anthropic = path == "/v1/messages";
    for (const std::string& body :
         {std::string(R"({"model":"smacs","max_tokens":5,"input":)") + std::string(60000, '[') +
              std::string(60000, ']') + "}",
          std::string((1 << 20) - 10, '['), std::string("{\"model\": \"smacs\", \"inp"),
          std::string("\xff\xfe garbage"), std::string("null"), std::string(),
          std::string(R"({"model":"smacs","max_tokens":5,"input":[{"type":"message","role":"user",
             "content":[{"type":"input_text","text":7}]}],"messages":[{"role":"user","content":[
             {"type":"text","text":7}]}]})")}) {
      const std::string reply = roundtrip(port(), http_post(path, body));
      EXPECT_EQ(status_of(reply), 400) << path << ": " << reply.substr(0, 300);
      const size_t start = reply.find("\r\n\r\n");
      const json j = json::parse(reply.substr(start + 4), nullptr, false);
      EXPECT_EQ(anthropic, j.value("type", "") == "error") << reply.substr(0, 300);
      EXPECT_TRUE(j["error"]["message"].is_string()) << reply.substr(0, 300);
    }
  }
  expect_alive();
}

TEST_F(Hostile, ContentLengthAbuse) {
  const std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n";
  EXPECT_EQ(status_of(roundtrip(port(), head + "Content-Length: -5\r\n\r\n")), 400);
  EXPECT_EQ(status_of(roundtrip(port(), head + "Content-Length: 10000000000\r\n\r\n")), 413);
  EXPECT_EQ(status_of(roundtrip(port(), head + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}")),
            400);
  EXPECT_EQ(status_of(roundtrip(port(), head + "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}")),
            400);
  EXPECT_EQ(status_of(roundtrip(port(), head + "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n"
                                               "\r\n{}")),
            400);
  // A body shorter than announced: the server waits (bounded), never answers with garbage.
  const std::string reply = roundtrip(port(), head + "Content-Length: 100\r\n\r\n{}", 500);
  EXPECT_TRUE(reply.empty()) << reply;
  expect_alive();
}

TEST_F(Hostile, ChunkedBodiesCountAgainstTheLimit) {
  const int fd = connect_to(port());
  ASSERT_GE(fd, 0);
  send_all(fd,
           "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  const std::string piece(64 * 1024, 'a');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", piece.size());
  size_t sent = 0;
  for (int i = 0; i < 1024 && send_all(fd, std::string(size_line) + piece + "\r\n"); ++i)
    sent += piece.size();  // at most 64 MiB; the limit is 1 MiB
  const std::string reply = read_until_close(fd);
  ::close(fd);
  EXPECT_EQ(status_of(reply), 413) << reply.substr(0, 200);
  // What the kernel took: the server's 1 MiB, its 1 MiB of lingering, and the socket buffers.
  EXPECT_LT(sent, 16u << 20) << "the server kept reading far past the limit";
  expect_alive();
}

TEST_F(Hostile, HeaderAbuse) {
  std::string many = "GET /health HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 10000; ++i) many.append("X-").append(std::to_string(i)).append(": y\r\n");
  EXPECT_EQ(status_of(roundtrip(port(), many + "\r\n")), 431);
  std::string fields = "GET /health HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 150; ++i) fields.append("A").append(std::to_string(i)).append(":b\r\n");
  EXPECT_EQ(status_of(roundtrip(port(), fields + "\r\n")), 431);
  EXPECT_EQ(status_of(roundtrip(port(), http_get("/health", std::string(20000, 'h') + ": 1\r\n"))),
            431);
  EXPECT_EQ(status_of(roundtrip(port(), http_get("/health", "NoColonHere\r\n"))), 400);
  EXPECT_EQ(status_of(roundtrip(port(), http_get("/health", std::string("X-A: a\0b\r\n", 10)))),
            400);
  expect_alive();
}

TEST_F(Hostile, GarbageBytesAndTlsGetAnAnswerAtOnce) {
  EXPECT_EQ(status_of(roundtrip(port(), "\x01\x02\x03 garbage garbage\r\n\r\n")), 400);
  // The start of a TLS ClientHello: not HTTP.
  const std::string hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  const std::string reply = roundtrip(port(), hello + std::string(64, 'x'));
  EXPECT_TRUE(reply.empty() || status_of(reply) == 400) << reply;
  EXPECT_EQ(status_of(roundtrip(port(), "GET /health HTTP/9.9\r\n\r\n")), 400);
  expect_alive();
}

TEST_F(Hostile, SlowHeadersAreCutOffByTheHeaderDeadline) {
  const int fd = connect_to(port());
  ASSERT_GE(fd, 0);
  send_all(fd, "GET /health HTTP/1.1\r\n");
  bool closed = false;
  for (int i = 0; i < 30 && !closed; ++i) {  // a header line every 100 ms, 3 s at most
    ::usleep(100 * 1000);
    closed = !send_all(fd, "X-Drip: 1\r\n");
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) {
      char c;
      closed = closed || ::recv(fd, &c, 1, MSG_PEEK) <= 0;
    }
  }
  ::close(fd);
  EXPECT_TRUE(closed) << "a dripping header was allowed to go on past header_timeout_ms (300)";
  expect_alive();
}

TEST_F(Hostile, ConnectionCapAnswers503AtOnce) {
  auto replay2 = start_replay();
  GatewayFixture capped({{kOpenPool[0], url(replay2->port)}}, 5000, 5000, {}, {},
                        [](ServerConfig& c) { c.max_connections = 4; });
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(connect_to(capped.running->port));
  ::usleep(100 * 1000);  // let the server accept them
  const std::string reply = roundtrip(capped.running->port, http_get("/health"));
  EXPECT_EQ(status_of(reply), 503) << reply;
  for (int fd : idle) ::close(fd);
  ::usleep(100 * 1000);
  EXPECT_EQ(status_of(roundtrip(capped.running->port, http_get("/health"))), 200);
}

TEST_F(Hostile, IdleConnectionsDoNotBlockOthers) {
  // Far more idle keep-alive connections than handler threads (16).
  std::vector<int> idle;
  for (int i = 0; i < 300; ++i) idle.push_back(connect_to(port()));
  for (int i = 0; i < 20; ++i) send_all(idle[i], "GET /health HTTP/1.1\r\nHost: x\r\n");  // half
  EXPECT_EQ(status_of(roundtrip(port(), http_get("/health"))), 200);
  EXPECT_EQ(status_of(roundtrip(port(), http_get("/metrics"))), 200);
  for (int fd : idle) ::close(fd);
}
