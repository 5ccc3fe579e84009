// The gateway's third hostile run, outside aggregate mode: configs that cannot work, a pool
// entry that is the gateway itself, n > 1 for a pass-through, the access log's status for a
// stream that failed late, /ready for an empty bank, the calls for a client that left.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "core/hop.h"
#include "fake_backend.h"
#include "gateway_fixture.h"
#include "postgres_fixture.h"
#include "raw_socket.h"

namespace smacs::test {
namespace {

std::string config_error(const std::string& yaml) {
  return error_of([&] { parse_server_config(yaml, "/tmp"); });
}

const std::string kOk = "bank: b.csv\npool:\n  - {name: m, base_url: http://127.0.0.1:1/v1}\n";

TEST(ServerConfig, ValuesThatCannotWorkAreRefused) {
  for (const std::string smacs :
       {"{tau: .nan}", "{alpha: .nan}", "{p_drop: .nan}", "{beta: -1}", "{gamma: -0.5}",
        "{beta: .nan}", "{tau: .inf}", "{settle: .nan}", "{solo: .nan}", "{cost_weight: .nan}",
        "{neighbors: 0}", "{mode: aggregate, aggregator: m, max_candidate_bytes: 10}"}) {
    const std::string e = config_error(kOk + "smacs: " + smacs + "\n");
    EXPECT_NE(e.find("smacs"), std::string::npos) << smacs << " was accepted: " << e;
  }
  auto pool = [](const std::string& extra) {
    return "bank: b.csv\npool:\n  - {name: m, base_url: http://127.0.0.1:1/v1, " + extra + "}\n";
  };
  EXPECT_NE(config_error(pool("backoff_ms: -100000")).find("'backoff_ms'"), std::string::npos);
  EXPECT_NE(config_error(pool("retries: 2000000000")).find("'retries'"), std::string::npos);
  EXPECT_EQ(config_error(pool("retries: 10, backoff_ms: 0")), "(no error)");
  // A pool entry named like the gateway's own model would be listed twice and never reached.
  EXPECT_NE(config_error("bank: b.csv\npool:\n  - {name: smacs, base_url: http://h:1/v1}\n")
                .find("'smacs'"),
            std::string::npos);
  // A pool entry that is the gateway itself.
  const std::string self =
      "listen: 127.0.0.1:18080\nbank: b.csv\npool:\n  - {name: me, base_url: "
      "http://localhost:18080/v1}\n";
  EXPECT_NE(config_error(self).find("points at this gateway itself"), std::string::npos);
}

// A pool whose backend is the gateway itself: caught at run time by the hop header too (the
// config check sees only literal host:port matches). Before: 70 nested requests in 5 s.
TEST(Gateway, ARequestThatComesBackToItsOwnGatewayIsRefused) {
  const int port = free_loopback_port();
  GatewayFixture gw({{"me", url(port)}}, 5000, 5000, {}, {},
                    [&](ServerConfig& c) { c.port = port; });
  auto client = gw.client();
  auto r = client.Post("/v1/chat/completions", chat("me", "hello?").dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502) << r->body;
  EXPECT_NE(r->body.find("loop detected"), std::string::npos) << r->body;
  // The inner call's metrics are counted after its reply is written: the outer request may
  // finish first.
  std::string metrics = gw.metrics.render();
  for (int i = 0; i < 100 && metrics.find("code=\"508\"} 2") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    metrics = gw.metrics.render();
  }
  EXPECT_NE(metrics.find("code=\"508\"} 2"), std::string::npos)
      << "one refused inner call per attempt (retries: 1), no more:\n"
      << metrics.substr(0, 1500);
  // A request carrying another gateway's token passes: chains of gateways are fine.
  httplib::Headers other = {{kHopHeader, "0123456789abcdef"}};
  r = client.Get("/v1/models", other);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  httplib::Headers own = {{kHopHeader, hop_token()}};
  r = client.Get("/v1/models", own);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 508);
}

// Before: `n: 3` was a 400 even for a pass-through model.
TEST(Gateway, NAboveOneIsPassedThroughButNotForSmacs) {
  FakeBackend backend;
  GatewayFixture gw({{"ok", backend.url()}});
  auto client = gw.client();
  json body = chat("ok", "hello?");
  body["n"] = 3;
  auto r = client.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  body["model"] = "smacs";
  r = client.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "n");
}

// Before: a SMACS stream that failed after a keep-alive comment was logged as 200.
TEST(Gateway, AStreamThatFailsAfterItStartedIsLoggedWithItsError) {
  FakeBackend backend;
  const std::string log = temp_path("late-stream-failure.log");
  std::filesystem::remove(log);
  // Every backend hangs (the fake's mode is the upstream model, here the pool name): each
  // times out after 600 ms, long after the first keep-alive comment went out.
  GatewayFixture gw({{"hang:1", backend.url()}, {"hang:2", backend.url()}}, 5000, 600, {}, {},
                    [&](ServerConfig& c) {
                      c.access_log = log;
                      c.sse_keepalive_ms = 100;
                    });
  json body = chat("smacs", load_file(rb("test")).records[0].question);
  body["stream"] = true;
  auto r = gw.client().Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find(": keep-alive"), std::string::npos) << r->body.substr(0, 300);
  EXPECT_NE(r->body.find("\"error\""), std::string::npos);
  const auto last_chat = [](const std::string& text) {
    std::string last;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      if (line.find("/v1/chat/completions") != std::string::npos) last = line;
    return last;
  };
  const std::string last =
      last_chat(wait_for_text(log, [&](const std::string& t) { return !last_chat(t).empty(); }));
  ASSERT_FALSE(last.empty());
  EXPECT_NE(json::parse(last)["status"], 200) << last;
}

// Waits up to `limit_ms` for `done()`; the milliseconds it took, or -1.
template <class Done>
double wait_ms_for(Done done, int limit_ms) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (done()) return ms;
    if (ms > limit_ms) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Before: a client that left had its upstream calls run on to their timeout (all 15 calls of
// an aggregate request were still made). Now the calls made for it are stopped: their
// connections close within a few hundred milliseconds, for a SMACS answer and a pass-through,
// plain or streamed (a stream's own watch: the session's stops at the stream's first piece).
TEST(Gateway, AClientThatLeavesStopsTheCallsMadeForIt) {
  FakeBackend backend;
  // Both pool models hang (the fake's mode is the upstream model, here the pool name) and
  // would be waited for 10 s.
  GatewayFixture gw({{"hang:1", backend.url()}, {"hang:2", backend.url()}}, 10000, 10000);
  const std::string question = load_file(rb("test")).records[0].question;
  for (const std::string model : {"smacs", "hang:1", "smacs-stream", "hang:1-stream"}) {
    const int fd = connect_to(gw.running->port);
    ASSERT_GE(fd, 0);
    json request = chat(model.starts_with("hang:1") ? "hang:1" : "smacs", question);
    if (model.ends_with("-stream")) request["stream"] = true;
    const std::string body = request.dump();
    ASSERT_TRUE(send_all(fd,
                         "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                         "application/json\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\n\r\n" + body));
    const int calls = model.starts_with("hang:1") ? 1 : 2;
    ASSERT_GE(wait_ms_for([&] { return backend.open_connections() >= calls; }, 3000), 0)
        << model << ": the backends were never asked";
    ::close(fd);  // the client leaves while the backends think
    const double closed_ms = wait_ms_for([&] { return backend.open_connections() == 0; }, 3000);
    EXPECT_GE(closed_ms, 0) << model << ": the calls for a client that left ran on";
    EXPECT_LT(closed_ms, 1500) << model;
  }
  const std::string metrics = gw.metrics.render();
  EXPECT_NE(metrics.find("event=\"abandoned\""), std::string::npos) << metrics.substr(0, 3000);
  EXPECT_EQ(metrics.find("smacs_backend_errors_total{"), std::string::npos) << "no backend failed";
  EXPECT_EQ(metrics.find("event=\"circuit_opened\""), std::string::npos)
      << "a client leaving is no fault";
}

// Before: an empty bank gave no warning and /ready said 200.
TEST(Gateway, AnEmptyBankIsNotReady) {
  FakeBackend backend;
  Dataset empty;
  empty.models = {"ok"};
  GatewayFixture gw({{"ok", backend.url()}}, 5000, 5000, {}, {}, {}, &empty);
  auto r = gw.client().Get("/ready");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503) << r->body;
  EXPECT_EQ(json::parse(r->body)["status"], "empty_bank");
}

}  // namespace
}  // namespace smacs::test
