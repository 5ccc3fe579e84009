// HttpClientPool's two ways to POST (blocking `post`, thread-free `post_async`) against a
// real HTTP server on loopback: the same replies, retries, timeouts and connection cap.
#include "core/http_client.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <future>
#include <optional>
#include <thread>

#include "core/error.h"
#include "server/http_server.h"
#include "test_util.h"

namespace smacs {
namespace {

// Echoes the body; `fail_first` calls get a 503, `slow_ms` delays every answer, a body of
// "refuse" gets a 400. Counts requests and the connections they came on.
struct Upstream {
  std::atomic<int> requests{0}, fail_first{0}, slow_ms{0};
  httplib::Server server;
  std::optional<test::Listening> listening;
  int port = 0;

  // `keep_idle`: false closes each connection right after its reply, while the reply still
  // says keep-alive (what a server whose idle timeout ran out looks like to a pool).
  explicit Upstream(bool keep_idle = true) {
    server.Post("/v1/echo", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests;
      if (slow_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(slow_ms.load()));
      if (fail_first > 0) {
        --fail_first;
        res.status = 503;
        return;
      }
      if (req.body == "refuse") {
        res.status = 400;
        res.set_content("{\"error\":\"no\"}", "application/json");
        return;
      }
      res.set_content("echo:" + req.body, "text/plain");
    });
    server.set_keep_alive_timeout(keep_idle ? 5 : 0);
    // A worker per connection (httplib's model): enough of them that no call waits for one.
    server.new_task_queue = [] { return new httplib::ThreadPool(64); };
    port = listening.emplace(server).port;
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/v1"; }
};

Deadline in_ms(int ms) { return Clock::now() + std::chrono::milliseconds(ms); }

HttpResult post_async(const HttpClientPool& pool, const std::string& body, Deadline deadline) {
  std::promise<HttpResult> done;
  auto reply = done.get_future();
  pool.post_async("/echo", body, deadline, {}, "an echo",
                  [&done](HttpResult r) { done.set_value(std::move(r)); });
  return reply.get();
}

TEST(HttpClient, AsyncAndBlockingPostsGiveTheSameReply) {
  Upstream up;
  const HttpClientPool pool({.base_url = up.url()});
  const HttpResult a = post_async(pool, "hello", in_ms(5000));
  const HttpResult b = pool.post("/echo", "hello", in_ms(5000));
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(a->body, "echo:hello");
  EXPECT_EQ(a->body, b->body);
  EXPECT_EQ(a->attempts, 1);
}

TEST(HttpClient, AsyncRetriesServerErrorsButNotRefusals) {
  Upstream up;
  const HttpClientPool pool({.base_url = up.url(), .retries = 2, .backoff_ms = 1});
  up.fail_first = 2;
  const HttpResult ok = post_async(pool, "x", in_ms(5000));
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->attempts, 3);
  up.fail_first = 5;
  const HttpResult failed = post_async(pool, "x", in_ms(5000));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().status, 503);
  EXPECT_EQ(failed.error().attempts, 3);
  up.fail_first = 0;
  const HttpResult refused = post_async(pool, "refuse", in_ms(5000));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().status, 400);
  EXPECT_EQ(refused.error().attempts, 1);  // a 4xx is the request's fault: no retry
  EXPECT_NE(refused.error().message.find("no"), std::string::npos);
}

TEST(HttpClient, AsyncUsabilityCheckRetriesGarbage) {
  Upstream up;
  const HttpClientPool pool({.base_url = up.url(), .retries = 1, .backoff_ms = 1});
  std::promise<HttpResult> done;
  pool.post_async(
      "/echo", "garbage", in_ms(5000), [](const std::string& body) { return body == "never"; },
      "a never", [&done](HttpResult r) { done.set_value(std::move(r)); });
  const HttpResult r = done.get_future().get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().status, 502);
  EXPECT_EQ(r.error().attempts, 2);
  EXPECT_NE(r.error().message.find("not a never"), std::string::npos);
}

TEST(HttpClient, AsyncTimesOutAndSaysSo) {
  Upstream up;
  up.slow_ms = 1500;
  const HttpClientPool pool({.base_url = up.url(), .timeout_ms = 200, .retries = 0});
  const auto start = Clock::now();
  const HttpResult r = post_async(pool, "x", in_ms(5000));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().timed_out) << r.error().message;
  EXPECT_EQ(r.error().status, 0);
  EXPECT_LT(ms_since(start), 1400);  // gave up at the per-attempt timeout, not the reply
}

TEST(HttpClient, AsyncUnreachableIsAConnectionFailure) {
  const HttpClientPool pool({.base_url = "http://127.0.0.1:1/v1", .retries = 0});
  const HttpResult r = post_async(pool, "x", in_ms(2000));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().status, 0);
  EXPECT_FALSE(r.error().timed_out);
  EXPECT_NE(r.error().message.find("connection failed"), std::string::npos) << r.error().message;
}

TEST(HttpClient, AsyncReconnectsWhenTheServerClosedAnIdleConnection) {
  Upstream up(/*keep_idle=*/false);
  const HttpClientPool pool({.base_url = up.url(), .retries = 0});
  ASSERT_TRUE(post_async(pool, "a", in_ms(5000)).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the server has dropped it
  const HttpResult r = post_async(pool, "b", in_ms(5000));
  ASSERT_TRUE(r.ok()) << r.error().message;  // no retries allowed: a fresh connection, not one
  EXPECT_EQ(r->body, "echo:b");
}

TEST(HttpClient, AsyncCallsWaitForAFreeConnectionUntilTheirDeadline) {
  Upstream up;
  up.slow_ms = 300;
  const HttpClientPool pool({.base_url = up.url(), .max_connections = 1, .retries = 0});
  std::promise<HttpResult> first, second, third;
  pool.post_async("/echo", "1", in_ms(5000), {}, "", [&](HttpResult r) { first.set_value(r); });
  pool.post_async("/echo", "2", in_ms(5000), {}, "", [&](HttpResult r) { second.set_value(r); });
  pool.post_async("/echo", "3", in_ms(100), {}, "", [&](HttpResult r) { third.set_value(r); });
  const HttpResult r3 = third.get_future().get();
  ASSERT_FALSE(r3.ok());
  EXPECT_TRUE(r3.error().timed_out);
  EXPECT_NE(r3.error().message.find("no free connection"), std::string::npos);
  const HttpResult r1 = first.get_future().get(), r2 = second.get_future().get();
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_EQ(r2->body, "echo:2");
  EXPECT_EQ(up.requests, 2);
}

// A call whose client left (its abandon flag set) stops: one waiting for a connection gives up
// its place, one in flight has its connection closed and is not retried (nor sent again on a
// fresh connection, as a kept-alive one the server closed would be); the call queued behind
// them gets the connection and its answer.
TEST(HttpClient, AnAbandonedAsyncCallStopsAtOnceAndIsNotRetried) {
  Upstream up;
  const HttpClientPool pool({.base_url = up.url(), .max_connections = 1, .retries = 2});
  ASSERT_TRUE(post_async(pool, "0", in_ms(5000)).ok());  // the one connection, kept alive
  up.slow_ms = 1500;
  auto in_flight = std::make_shared<std::atomic<bool>>(false);
  auto waiting = std::make_shared<std::atomic<bool>>(false);
  std::promise<HttpResult> first, second, third;
  const auto start = Clock::now();
  pool.post_async(
      "/echo", "1", in_ms(10000), {}, "", [&](HttpResult r) { first.set_value(r); }, in_flight);
  pool.post_async(
      "/echo", "2", in_ms(10000), {}, "", [&](HttpResult r) { second.set_value(r); }, waiting);
  pool.post_async("/echo", "3", in_ms(10000), {}, "", [&](HttpResult r) { third.set_value(r); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  waiting->store(true);
  const HttpResult r2 = second.get_future().get();
  EXPECT_LT(ms_since(start), 700) << "a waiting call that was abandoned waited on";
  in_flight->store(true);
  const HttpResult r1 = first.get_future().get();
  EXPECT_LT(ms_since(start), 1000) << "an abandoned call in flight ran on";
  for (const HttpResult* r : {&r1, &r2}) {
    ASSERT_FALSE(r->ok());
    EXPECT_EQ(r->error().kind, FailureKind::kAbandoned) << r->error().message;
  }
  const HttpResult r3 = third.get_future().get();
  ASSERT_TRUE(r3.ok()) << r3.error().message;
  EXPECT_EQ(r3->body, "echo:3");
  EXPECT_EQ(up.requests, 3) << "the abandoned call was sent again, or the waiting one was sent";
}

TEST(HttpClient, ManyAsyncCallsInFlightHoldNoThreadEach) {
  // smacs's own server as the upstream: httplib's listen backlog of 5 drops most of 48
  // simultaneous connects, and their SYN retries (1 s, then 3 s) would be measured instead.
  HttpServer up(HttpLimits{.workers = 64});
  up.route("POST", "/v1/echo", [](const HttpRequest& req, HttpResponse& res) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    res.content_type = "text/plain";
    res.body = "echo:" + req.body;
  });
  const int port = up.bind("127.0.0.1", 0);
  std::thread loop([&] { up.run(); });
  const HttpClientPool pool(
      {.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1", .max_connections = 64});
  constexpr int kCalls = 48;
  std::atomic<int> ok{0}, answered{0};
  std::promise<void> all;
  const auto start = Clock::now();
  for (int i = 0; i < kCalls; ++i)
    pool.post_async("/echo", std::to_string(i), in_ms(10000), {}, "", [&](HttpResult r) {
      if (r.ok()) ++ok;
      if (++answered == kCalls) all.set_value();
    });
  all.get_future().wait();
  EXPECT_EQ(ok, kCalls);
  // All at once on one I/O thread: about one server delay, not 48 of them.
  EXPECT_LT(ms_since(start), 0.5 * kCalls * 200);
  up.stop();
  loop.join();
}

// A self-signed certificate for `san` made with the openssl command line: {cert, key} paths.
std::pair<std::string, std::string> make_cert(const std::string& name, const std::string& san) {
  const std::string cert = test::temp_path(name + ".crt"), key = test::temp_path(name + ".key");
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" + name +
                          " -addext subjectAltName=" + san + " -keyout " + key + " -out " + cert +
                          " >/dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return {cert, key};
}

// An https:// upstream on loopback that echoes, with the given certificate.
struct TlsUpstream {
  httplib::SSLServer server;
  std::optional<test::Listening> listening;
  int port = 0;
  TlsUpstream(const std::string& cert, const std::string& key) : server(cert.c_str(), key.c_str()) {
    server.Post("/v1/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content("echo:" + req.body, "text/plain");
    });
    port = listening.emplace(server).port;
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port) + "/v1"; }
};

TEST(HttpClient, AsyncHttpsVerifiesTheServerAndItsName) {
  const auto [cert, key] = make_cert("127.0.0.1", "IP:127.0.0.1");
  TlsUpstream up(cert, key);
  const HttpClientPool trusting({.base_url = up.url(), .retries = 0, .ca_file = cert});
  for (int i = 0; i < 3; ++i) {  // the second and third reuse the TLS connection
    const HttpResult r = post_async(trusting, "over tls " + std::to_string(i), in_ms(5000));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->body, "echo:over tls " + std::to_string(i));
  }
  const HttpResult blocking = trusting.post("/echo", "over tls", in_ms(5000));
  ASSERT_TRUE(blocking.ok()) << blocking.error().message;
  EXPECT_EQ(blocking->body, "echo:over tls");

  // The system's CAs do not know a self-signed certificate: refused, and said why.
  const HttpClientPool system_cas({.base_url = up.url(), .retries = 0});
  const HttpResult untrusted = post_async(system_cas, "x", in_ms(5000));
  ASSERT_FALSE(untrusted.ok());
  EXPECT_EQ(untrusted.error().status, 0);
  EXPECT_NE(untrusted.error().message.find("certificate verify failed"), std::string::npos)
      << untrusted.error().message;

  // A trusted certificate for another name: refused too.
  const auto [other_cert, other_key] = make_cert("elsewhere", "DNS:elsewhere.example");
  TlsUpstream other(other_cert, other_key);
  const HttpClientPool wrong_name({.base_url = other.url(), .retries = 0, .ca_file = other_cert});
  const HttpResult misnamed = post_async(wrong_name, "x", in_ms(5000));
  ASSERT_FALSE(misnamed.ok());
  EXPECT_NE(misnamed.error().message.find("certificate verify failed"), std::string::npos)
      << misnamed.error().message;

  EXPECT_THROW(HttpClientPool({.base_url = up.url(), .ca_file = "/nonexistent.pem"}), Error);
}

}  // namespace
}  // namespace smacs
