// The gateway in front of backends that misbehave (tests/fake_backend.h): every reply is data
// to check, never a way to take a client's connection, a handler thread or unbounded memory.
// Loopback only; every wait is bounded.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "fake_backend.h"
#include "gateway_fixture.h"
#include "raw_socket.h"

using namespace smacs;
using namespace smacs::test;

namespace {

// A gateway whose pool members (RouterBench names, so the bank knows them) are served by one
// fake backend, each in its own mode.
struct HostileGateway {
  FakeBackend fake;
  ServerConfig config;
  Metrics metrics;
  std::unique_ptr<Gateway> gateway;
  std::unique_ptr<Serving<GatewayServer>> running;

  explicit HostileGateway(const std::vector<std::string>& modes,
                          const std::function<void(ServerConfig&)>& adjust = {}) {
    config.port = 0;
    config.threads = 4;
    config.request_timeout_ms = 5000;
    config.max_body_bytes = 1 << 20;
    config.access_log = temp_path("hostile-access-" + std::to_string(++count) + ".log");
    // Appended to: a file a process with the same (reused) pid left must not count.
    std::filesystem::remove(config.access_log);
    config.params.k = modes.size();
    config.params.p_drop = 0;
    if (adjust) adjust(config);
    for (size_t i = 0; i < modes.size(); ++i) {
      HttpBackendConfig& b = config.pool.emplace_back().http;
      b.name = kOpenPool[i];
      b.base_url = fake.url();
      b.model = modes[i];
      b.timeout_ms = 3000;
      b.retries = 1;
      b.backoff_ms = 10;
      b.max_concurrency = 256;
    }
    gateway = make_gateway(config, build_bank(load_file(rb("train"))), config.params,
                           metrics);  // as `smacs serve` makes it
    running = std::make_unique<Serving<GatewayServer>>(
        std::make_unique<GatewayServer>(config, *gateway, metrics));
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", running->port);
    c.set_read_timeout(20, 0);
    return c;
  }
  // Once `done` holds of it (lines are written after their reply): see wait_for_text.
  std::string access_log(const std::function<bool(const std::string&)>& done) const {
    return wait_for_text(config.access_log, done);
  }
  static inline int count = 0;
};

json parse(const httplib::Result& r) { return r ? json::parse(r->body, nullptr, false) : json(); }

std::string post_body(const std::string& model, const std::string& question, bool stream = false) {
  json body = chat(model, question);
  if (stream) body["stream"] = true;
  return body.dump();
}

std::string raw_exchange(int port, const std::string& bytes, int wait_ms = 3000) {
  const int fd = connect_to(port);
  if (fd < 0) return "";
  send_all(fd, bytes);
  std::string out = read_until_close(fd, wait_ms);
  ::close(fd);
  return out;
}

const std::string kQuestion = "Which gas do plants absorb from the air for photosynthesis?";

}  // namespace

// Defect 1: one bad byte in one backend's reply used to leave the client without a response.
TEST(HostileBackend, InvalidUtf8FailsThatBackendAndSmacsAnswersFromTheOthers) {
  HostileGateway g({"utf8", "ok", "ok"});
  auto c = g.client();
  auto r = c.Post("/v1/chat/completions", post_body("smacs", kQuestion), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json body = parse(r);
  ASSERT_FALSE(body.is_discarded());
  EXPECT_NE(body["smacs"]["chosen"], kOpenPool[0]);
  EXPECT_NE(body["smacs"]["errors"][kOpenPool[0]].get<std::string>().find("invalid UTF-8"),
            std::string::npos);
  // Streamed too.
  auto s = c.Post("/v1/chat/completions", post_body("smacs", kQuestion, true), "application/json");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->status, 200);
  EXPECT_NE(s->body.find("data: [DONE]"), std::string::npos);
  // A pass-through to it: a 502 naming the backend, in valid JSON.
  auto p = c.Post("/v1/chat/completions", post_body(kOpenPool[0], kQuestion), "application/json");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->status, 502);
  const json error = parse(p);
  ASSERT_FALSE(error.is_discarded()) << p->body;
  EXPECT_NE(error["error"]["message"].get<std::string>().find(kOpenPool[0]), std::string::npos);
  EXPECT_NE(error["error"]["message"].get<std::string>().find("invalid UTF-8"), std::string::npos);
  // A binary error page from a backend: the same.
  HostileGateway binary({"binary-error"});
  auto bc = binary.client();
  auto b = bc.Post("/v1/chat/completions", post_body(kOpenPool[0], kQuestion), "application/json");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->status, 502);
  EXPECT_FALSE(parse(b).is_discarded()) << b->body;
  // Every request has its access-log line, and /metrics counts the kind.
  const auto lines = [](const std::string& t) { return std::count(t.begin(), t.end(), '\n'); };
  const std::string log = g.access_log([&](const std::string& t) { return lines(t) >= 3; });
  EXPECT_EQ(lines(log), 3) << log;
  const auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("smacs_backend_errors_total{backend=\"" + kOpenPool[0] +
                               "\",kind=\"invalid_utf8\"}"),
            std::string::npos)
      << metrics->body;
}

TEST(HostileBackend, AStreamWithABadByteIsCutWithAnError) {
  HostileGateway g({"sse-utf8"});
  auto c = g.client();
  auto s =
      c.Post("/v1/chat/completions", post_body(kOpenPool[0], kQuestion, true), "application/json");
  ASSERT_TRUE(s);
  EXPECT_NE(s->body.find("invalid UTF-8"), std::string::npos) << s->body;
  EXPECT_EQ(s->body.find('\xe9'), std::string::npos);
}

// A client that leaves a pass-through stream early says nothing of the backend's health: it
// used to be counted as a backend timeout, so six impatient clients opened the circuit.
TEST(HostileBackend, AClientLeavingAStreamIsNotABackendFailure) {
  HostileGateway g({"sse-slow:150"});
  const std::string body = post_body(kOpenPool[0], kQuestion, true);
  const std::string request = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body;
  for (int i = 0; i < 6; ++i) {
    const int fd = connect_to(g.running->port);
    ASSERT_GE(fd, 0);
    send_all(fd, request);
    std::string got;
    char buf[4096];
    for (int tries = 0; tries < 100 && got.find("data: ") == std::string::npos; ++tries) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    EXPECT_NE(got.find("data: "), std::string::npos);
    ::close(fd);  // gone before the rest of the stream
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // the relays notice
  auto c = g.client();
  auto r = c.Post("/v1/chat/completions", body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;  // not 503: the circuit stayed closed
  const std::string metrics = c.Get("/metrics")->body;
  EXPECT_EQ(metrics.find("smacs_backend_errors_total{"), std::string::npos) << metrics;
}

// Defect 2: a pass-through held a handler thread for its whole call.
TEST(HostileBackend, SlowPassThroughCallsHoldNoHandlerThread) {
  HostileGateway g({"slow:2500", "ok", "ok"}, [](ServerConfig& c) {
    c.threads = 2;
    c.params.k = 2;
  });
  std::vector<std::future<int>> slow;
  for (int i = 0; i < 24; ++i)
    slow.push_back(std::async(std::launch::async, [&, i] {
      auto c = g.client();
      auto r = c.Post("/v1/chat/completions", post_body(kOpenPool[0], kQuestion, i % 2 == 1),
                      "application/json");
      return r ? r->status : 0;
    }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Meanwhile another model answers at once: no handler thread is held by the slow calls.
  auto c = g.client();
  const auto start = Clock::now();
  auto r = c.Post("/v1/chat/completions", post_body(kOpenPool[1], kQuestion), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(ms_since(start), 1000);
  for (auto& f : slow) EXPECT_EQ(f.get(), 200);
}

// Found on the reload benchmark (issue 26): a round's replies were scored (embedded, ranked) on
// the backends' shared I/O thread, so big replies held up every other request's backend
// traffic meanwhile (aggregate mode's candidates were already scored on a worker).
TEST(HostileBackend, BigRepliesAreScoredOffTheSharedIoThread) {
  FakeBackend quick;  // the fourth model, apart: the fake writes its big replies on one thread
  HostileGateway g({"huge-words:12", "huge-words:12", "huge-words:12"}, [&](ServerConfig& c) {
    c.params.k = 4;
    c.params.posterior.rule = AgreementRule::kResponses;  // the replies' TF-IDF vectors agree
    HttpBackendConfig& b = c.pool.emplace_back().http;
    b = {.name = kOpenPool[3], .base_url = quick.url(), .model = "ok", .timeout_ms = 3000};
  });
  std::atomic<bool> done{false};
  double worst_ms = 0;
  int passed = 0;
  std::thread other([&] {  // pass-through requests to the fourth model meanwhile
    auto c = g.client();
    while (!done) {
      const auto start = Clock::now();
      auto r =
          c.Post("/v1/chat/completions", post_body(kOpenPool[3], kQuestion), "application/json");
      worst_ms = std::max(worst_ms, ms_since(start));
      if (r && r->status == 200) ++passed;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  auto c = g.client();
  const auto start = Clock::now();
  auto r = c.Post("/v1/chat/completions", post_body("smacs", kQuestion), "application/json");
  const double smacs_ms = ms_since(start);
  done = true;
  other.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body.substr(0, 500);
  EXPECT_GT(passed, 0);
  EXPECT_LT(worst_ms, 250) << "a pass-through waited for the SMACS request's scoring (" << smacs_ms
                           << " ms in all)";
}

// Defect 3: remembered answers were bounded by count only.
TEST(HostileBackend, RememberedAnswersAreBoundedInBytes) {
  HostileGateway g({"ok", "ok"}, [](ServerConfig& c) { c.remember_bytes = 1 << 20; });
  auto c = g.client();
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    const std::string q = kQuestion + " " + std::to_string(i) + std::string(60 << 10, 'x');
    auto r = c.Post("/v1/chat/completions", post_body("smacs", q), "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    ids.push_back(parse(r)["id"]);
  }
  const auto metrics = c.Get("/metrics")->body;
  const auto at = metrics.find("\nsmacs_remembered_answer_bytes ");
  ASSERT_NE(at, std::string::npos);
  const long held = std::atol(metrics.c_str() + at + 31);
  EXPECT_GT(held, 512 << 10);
  EXPECT_LE(held, 1 << 20);
  auto feedback = [&](const std::string& id) {
    return c.Post("/v1/feedback", json{{"id", id}, {"score", 1}}.dump(), "application/json")
        ->status;
  };
  EXPECT_EQ(feedback(ids.front()), 404);  // evicted
  EXPECT_EQ(feedback(ids.back()), 200);
}

// Defect 4: bodies were buffered before the key was checked.
TEST(HostileBackend, TheApiKeyIsCheckedBeforeTheBody) {
  HostileGateway g({"ok"}, [](ServerConfig& c) { c.api_keys = {"k"}; });
  const auto start = Clock::now();
  const std::string head =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 900000\r\n\r\n{\"model\":";
  const std::string reply = raw_exchange(g.running->port, head, 2000);
  EXPECT_EQ(reply.rfind("HTTP/1.1 401", 0), 0u) << reply;
  EXPECT_LT(ms_since(start), 1500);  // not the body timeout
  // With the key the same header waits for its body (no early answer).
  const std::string keyed =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: "
      "Bearer k\r\nContent-Length: 900000\r\n\r\n{";
  EXPECT_EQ(raw_exchange(g.running->port, keyed, 300), "");
}

// Defect 5: feedback is rate limited per key, and kept across reloads with a data-file bank.
TEST(HostileBackend, FeedbackIsRateLimitedAndSurvivesAReload) {
  const std::string journal = temp_path("journal-" + std::to_string(::getpid()) + ".sqlite");
  std::filesystem::remove(journal);
  HostileGateway g({"ok", "ok"}, [&](ServerConfig& c) {
    c.feedback_per_second = 2;
    c.feedback_journal = journal;
    c.bank_files = {rb("train")};
  });
  auto c = g.client();
  const size_t before = g.gateway->bank_questions();
  std::vector<int> statuses;
  for (int i = 0; i < 6; ++i) {
    auto r = c.Post("/v1/chat/completions", post_body("smacs", kQuestion + std::to_string(i)),
                    "application/json");
    ASSERT_TRUE(r);
    auto f = c.Post("/v1/feedback", json{{"id", parse(r)["id"]}, {"score", 1}}.dump(),
                    "application/json");
    statuses.push_back(f->status);
    if (f->status == 429) {
      EXPECT_FALSE(f->get_header_value("Retry-After").empty());
    }
  }
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 200), 4);  // the burst: 2 x 2/s
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 429), 2);
  EXPECT_EQ(g.gateway->bank_questions(), before + 4);
  auto reload = c.Post("/admin/reload", "", "application/json");
  ASSERT_TRUE(reload);
  EXPECT_EQ(parse(reload)["questions"], before + 4) << reload->body;
}

// Defect 6: Retry-After was ignored, and every backend limited gave a 502.
TEST(HostileBackend, RetryAfterIsHonouredAndSurfacesAsA429) {
  HostileGateway g({"429:1", "429:30"});
  auto c = g.client();
  auto start = Clock::now();
  auto r = c.Post("/v1/chat/completions", post_body(kOpenPool[0], kQuestion), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  EXPECT_GE(ms_since(start), 950);  // waited as asked before the one retry
  EXPECT_EQ(g.fake.calls("429:1"), 2);
  // Asked to wait past the deadline: no retry, the client gets the backend's wait.
  start = Clock::now();
  r = c.Post("/v1/chat/completions", post_body(kOpenPool[1], kQuestion), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(r->get_header_value("Retry-After"), "30");
  EXPECT_LT(ms_since(start), 500);
  EXPECT_EQ(g.fake.calls("429:30"), 1);
  r = c.Post("/v1/chat/completions", post_body("smacs", kQuestion), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429) << r->body;
  EXPECT_EQ(r->get_header_value("Retry-After"), "30");
}

// Defects 7 and 8: percent-encoded model ids; a connection closed mid-reply is a 502.
TEST(HostileBackend, EncodedModelIdsAndClosedConnections) {
  HostileGateway g({"close-mid"});
  auto c = g.client();
  auto m = c.Get("/v1/models/zero-one-ai%2FYi-34B-Chat");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_EQ(parse(m)["id"], kOpenPool[0]);
  auto r = c.Post("/v1/chat/completions", post_body(kOpenPool[0], kQuestion), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502) << r->body;
  EXPECT_NE(r->body.find("closed"), std::string::npos) << r->body;
}

// Defect 9: pass-through bypassed the breaker; an opening counted once per failed call.
TEST(HostileBackend, PassThroughIsInsideTheBreakerAndAnOpeningCountsOnce) {
  HostileGateway g({"500"});
  std::vector<std::future<int>> calls;
  for (int i = 0; i < 12; ++i)
    calls.push_back(std::async(std::launch::async, [&] {
      auto c = g.client();
      auto r =
          c.Post("/v1/chat/completions", post_body(kOpenPool[0], kQuestion), "application/json");
      return r ? r->status : 0;
    }));
  for (auto& f : calls) EXPECT_EQ(f.get(), 502);
  auto c = g.client();
  const int seen = g.fake.calls("500");
  auto r = c.Post("/v1/chat/completions", post_body(kOpenPool[0], kQuestion), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503) << r->body;
  EXPECT_FALSE(r->get_header_value("Retry-After").empty());
  EXPECT_EQ(g.fake.calls("500"), seen);  // not asked
  const std::string metrics = c.Get("/metrics")->body;
  EXPECT_NE(metrics.find("smacs_model_events_total{event=\"circuit_opened\",model=\"" +
                         kOpenPool[0] + "\"} 1\n"),
            std::string::npos)
      << metrics;
}

// Defect 10: the small ones.
TEST(HostileBackend, SmallProtocolItems) {
  HostileGateway g({"json-for-stream", "slow:900"}, [](ServerConfig& c) {
    c.cors_origins = {"https://app.example"};
    c.sse_keepalive_ms = 200;
    c.params.k = 1;
  });
  const int port = g.running->port;
  EXPECT_EQ(raw_exchange(port, "HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .rfind("HTTP/1.1 200", 0),
            0u);
  const std::string long_url = "GET /v1/models/" + std::string(100 << 10, 'a') + " HTTP/1.1\r\n";
  EXPECT_EQ(raw_exchange(port, long_url).rfind("HTTP/1.1 414", 0), 0u);
  const std::string trailer =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\n{}\r\n0\r\nX-Big: " +
      std::string(100 << 10, 'b') + "\r\n\r\n";
  EXPECT_EQ(raw_exchange(port, trailer).rfind("HTTP/1.1 431", 0), 0u);
  auto c = g.client();
  json stop = chat("smacs", kQuestion);
  stop["stop"] = 5;
  auto r = c.Post("/v1/chat/completions", stop.dump(), "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(parse(r)["error"]["param"], "stop");
  auto missing = c.Get("/nowhere");
  EXPECT_EQ(missing->get_header_value("Vary"), "Origin");
  // A backend that answers a stream request with plain JSON: relayed as events.
  auto s =
      c.Post("/v1/chat/completions", post_body(kOpenPool[0], kQuestion, true), "application/json");
  EXPECT_NE(s->body.find("data: {"), std::string::npos) << s->body;
  EXPECT_NE(s->body.find("data: [DONE]"), std::string::npos);
  // The client's own x-request-id is in the access log.
  c.Get("/v1/models", {{"x-request-id", "client-id-123"}});
  EXPECT_NE(g.access_log([](const std::string& t) {
               return t.find("client-id-123") != std::string::npos;
             }).find("client-id-123"),
            std::string::npos);
}

TEST(HostileBackend, ASmacsStreamSendsKeepAlivesWhileItWaits) {
  HostileGateway g({"slow:900"}, [](ServerConfig& c) { c.sse_keepalive_ms = 200; });
  const std::string body = post_body("smacs", kQuestion, true);
  const std::string reply = raw_exchange(
      g.running->port,
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: " +
          std::to_string(body.size()) + "\r\n\r\n" + body,
      4000);
  const auto comment = reply.find(": keep-alive");
  const auto data = reply.find("data: {");
  ASSERT_NE(comment, std::string::npos) << reply;
  ASSERT_NE(data, std::string::npos) << reply;
  EXPECT_LT(comment, data);
  EXPECT_NE(reply.find("data: [DONE]"), std::string::npos);
}

TEST(HostileBackend, MetricsPassPromtool) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "promtool (Debian prometheus) is not installed";
  HostileGateway g({"ok", "utf8"});
  auto c = g.client();
  (void)c.Post("/v1/chat/completions", post_body("smacs", kQuestion), "application/json");
  const std::string file = write_temp("metrics.txt", c.Get("/metrics")->body);
  const RunResult r = [&] {
    const std::string cmd = "promtool check metrics < " + file + " 2>&1";
    FILE* pipe = ::popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
    const int status = ::pclose(pipe);
    return RunResult{WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
  }();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "") << r.output;
}

// The Responses and Messages doors meet failing backends in their own API's shape: a whole
// error before anything was sent, an error event in a stream that had started, never a byte
// the backend should not have sent.
TEST(HostileBackend, TheResponsesAndMessagesDoorsSpeakTheirOwnFailures) {
  HostileGateway g({"500", "sse-utf8", "close-mid"});
  auto c = g.client();
  auto post = [&](const char* path, const std::string& model, bool stream) {
    json body = {{"model", model}, {"max_tokens", 32}, {"stream", stream}};
    if (std::string(path) == "/v1/responses")
      body = {{"model", model}, {"input", kQuestion}, {"stream", stream}};
    else
      body["messages"] = {{{"role", "user"}, {"content", kQuestion}}};
    auto r = c.Post(path, body.dump(), "application/json");
    EXPECT_TRUE(r) << path << " " << model;
    return r ? std::make_pair(r->status, r->body) : std::make_pair(0, std::string());
  };
  {
    const auto [status, body] = post("/v1/messages", kOpenPool[0], false);
    const json j = json::parse(body, nullptr, false);
    EXPECT_EQ(status, 502) << body;
    EXPECT_EQ(j.value("type", ""), "error") << body;
    EXPECT_EQ(j["error"].value("type", ""), "api_error") << body;
    const auto [r_status, r_body] = post("/v1/responses", kOpenPool[0], false);
    EXPECT_EQ(r_status, 502) << r_body;
    EXPECT_TRUE(json::parse(r_body, nullptr, false)["error"]["message"].is_string()) << r_body;
    // SMACS through the doors answers from the backend that still works.
    const auto [s_status, s_body] = post("/v1/messages", "smacs", false);
    EXPECT_EQ(s_status, 200) << s_body;
    EXPECT_EQ(json::parse(s_body, nullptr, false)["smacs"].value("chosen", ""), kOpenPool[1]);
  }
  for (const char* path : {"/v1/messages", "/v1/responses"}) {
    const bool messages = std::string(path) == "/v1/messages";
    // A Latin-1 byte mid-stream, and a backend that hangs up: a whole error in the door's shape
    // when nothing was sent yet, else the door's error event; never the byte, never a finish.
    for (size_t member : {1, 2}) {
      const auto [status, body] = post(path, kOpenPool[member], true);
      EXPECT_EQ(body.find('\xe9'), std::string::npos);
      EXPECT_EQ(body.find(messages ? "message_stop" : "response.completed"), std::string::npos);
      if (status == 200) {
        EXPECT_NE(body.find(messages ? "event: error" : "event: response.failed"),
                  std::string::npos)
            << path << ": " << body;
      } else {
        EXPECT_EQ(status, 502) << body;
        const json j = json::parse(body, nullptr, false);
        EXPECT_EQ(messages, j.value("type", "") == "error") << body;
        EXPECT_TRUE(j["error"]["message"].is_string()) << body;
      }
    }
  }
  EXPECT_EQ(c.Get("/health")->status, 200);
}
