// The gateway's request path without a thread per backend call: a SMACS answer waits for its
// backends on the I/O thread, so calls in flight are not bounded by the handler threads; and
// the HTTP server's inline routes (run on the event thread) hand large bodies to a worker.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "gateway_fixture.h"

using namespace smacs;
using namespace smacs::test;

namespace {

// A chat upstream that holds every call `hold_ms` and counts how many are in flight at once.
// smacs's own server: httplib's listen backlog of 5 would drop most of 36 connects at once.
struct SlowUpstream {
  std::atomic<int> in_flight{0}, most{0}, calls{0};
  int hold_ms;
  HttpServer server{HttpLimits{.workers = 128}};
  int port = 0;
  std::thread loop;

  explicit SlowUpstream(int hold) : hold_ms(hold) {
    server.route("POST", "/v1/chat/completions", [this](const HttpRequest&, HttpResponse& res) {
      ++calls;
      const int now = ++in_flight;
      for (int seen = most; now > seen && !most.compare_exchange_weak(seen, now);) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
      --in_flight;
      res.body = completion_body("up-1", "m", "A", nullptr).dump();
    });
    port = server.bind("127.0.0.1", 0);
    loop = std::thread([this] { server.run(); });
  }
  ~SlowUpstream() {
    server.stop();
    loop.join();
  }
};

}  // namespace

TEST(GatewayAsync, BackendCallsInFlightAreNotBoundByHandlerThreads) {
  SlowUpstream up(400);
  std::vector<std::pair<std::string, std::string>> pool;
  for (const auto& m : kOpenPool) pool.emplace_back(m, url(up.port));
  GatewayFixture gw(pool, 10000, 10000, {}, {}, [](ServerConfig& c) {
    c.threads = 2;  // two handler threads, and two fan-out workers
    c.params.k = 3;
    c.params.p_drop = 0;
  });
  const Dataset test = load_file(rb("test"));
  constexpr int kClients = 12;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i)
    clients.emplace_back([&, i] {
      auto c = gw.client();
      const auto r = c.Post("/v1/chat/completions",
                            chat("smacs", test.records[static_cast<size_t>(i)].question).dump(),
                            "application/json");
      if (r && r->status == 200) ++ok;
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok, kClients);
  EXPECT_EQ(up.calls, kClients * 3);
  // A thread per call would allow at most the 2 handler + 2 fan-out threads' worth at once.
  EXPECT_GE(up.most, 12) << "backend calls were serialised behind the handler threads";
}

TEST(HttpServerInline, LargeBodiesOfAnInlineRouteRunOnAWorker) {
  HttpServer server(HttpLimits{.max_body_bytes = 1 << 20, .workers = 2});
  std::mutex mutex;
  std::vector<std::thread::id> ran_on;
  server.route(
      "POST", "/echo",
      [&](const HttpRequest& req, HttpResponse& res) {
        std::lock_guard lock(mutex);
        ran_on.push_back(std::this_thread::get_id());
        res.body = std::to_string(req.body.size());
      },
      /*inline_handler=*/true);
  const int port = server.bind("127.0.0.1", 0);
  std::thread loop([&] { server.run(); });
  httplib::Client c("127.0.0.1", port);
  for (const size_t size : {size_t{10}, size_t{100} << 10, size_t{20}}) {
    const auto r = c.Post("/echo", std::string(size, 'x'), "text/plain");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, std::to_string(size));
  }
  server.stop();
  loop.join();
  ASSERT_EQ(ran_on.size(), 3u);
  EXPECT_EQ(ran_on[0], ran_on[2]);  // small bodies: the event thread, both times
  EXPECT_NE(ran_on[0], ran_on[1]);  // 100 KiB: a worker, not the event loop
}

TEST(HttpServerInline, AHandlerThatDefersAndThenThrowsStillGetsA500) {
  HttpServer server(HttpLimits{.workers = 2});
  HttpResponse::Reply late;
  std::mutex mutex;
  server.route("POST", "/defer-then-throw", [&](const HttpRequest&, HttpResponse& res) {
    std::lock_guard lock(mutex);
    late = res.answer_later();
    throw std::runtime_error("broke after deferring");
  });
  const int port = server.bind("127.0.0.1", 0);
  std::thread loop([&] { server.run(); });
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(5, 0);
  const auto r = c.Post("/defer-then-throw", "{}", "application/json");
  ASSERT_TRUE(r) << "no answer: the request was left hanging";
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(r->body.find("broke after deferring"), std::string::npos);
  {
    std::lock_guard lock(mutex);
    HttpResponse ignored;
    ignored.body = "too late";
    late(ignored);   // the deferred reply after the 500: dropped
    late = nullptr;  // it holds the connection: let it go, as a finished handler would
  }
  const auto again = c.Post("/defer-then-throw", "{}", "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 500);
  {
    std::lock_guard lock(mutex);
    late = nullptr;
  }
  server.stop();
  loop.join();
}

// A pass-through is looked at on the event thread; SMACS's planning is handed on: the rest of
// an inline handler runs on a worker, and one handed on from a worker runs right there.
TEST(HttpServerInline, AnInlineHandlerHandsTheRestToAWorker) {
  HttpServer server(HttpLimits{.workers = 2});
  std::mutex mutex;
  std::vector<std::thread::id> first, rest;
  auto handler = [&](const HttpRequest& req, HttpResponse& res) {
    {
      std::lock_guard lock(mutex);
      first.push_back(std::this_thread::get_id());
    }
    if (req.body == "here") return void(res.body = "answered here");
    if (req.body == "later") {
      auto reply = res.answer_later();
      std::thread([reply] {
        HttpResponse out;
        out.body = "answered later";
        reply(out);
      }).detach();
      return;
    }
    res.set_header("x-seen", "inline");
    res.finish_on_worker([&](const HttpRequest&, HttpResponse& r) {
      std::lock_guard lock(mutex);
      rest.push_back(std::this_thread::get_id());
      r.body = "answered by the rest";
    });
  };
  server.route("POST", "/inline", handler, /*inline_handler=*/true);
  server.route("POST", "/worker", handler);
  const int port = server.bind("127.0.0.1", 0);
  std::thread loop([&] { server.run(); });
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(5, 0);
  const auto here = c.Post("/inline", "here", "text/plain");
  const auto later = c.Post("/inline", "later", "text/plain");
  const auto handed = c.Post("/inline", "rest", "text/plain");
  const auto from_worker = c.Post("/worker", "rest", "text/plain");
  server.stop();
  loop.join();
  ASSERT_TRUE(here && later && handed && from_worker);
  EXPECT_EQ(here->body, "answered here");
  EXPECT_EQ(later->body, "answered later");
  EXPECT_EQ(handed->body, "answered by the rest");
  EXPECT_EQ(handed->get_header_value("x-seen"), "inline");  // the response carried over
  EXPECT_EQ(from_worker->body, "answered by the rest");
  ASSERT_EQ(first.size(), 4u);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(first[0], first[2]);  // inline: the event thread
  EXPECT_NE(rest[0], first[2]);   // its rest: a worker
  EXPECT_EQ(rest[1], first[3]);   // from a worker: the same worker, no second hop
}
