// HttpClientPool::post_async: the same POST as `post` (retries, backoff, timeouts, deadline,
// connection cap), on one shared I/O thread instead of a thread per call. Written as a
// coroutine (Asio + Beast) so that the retry loop reads like `post`'s.
//
// Every connection and waiter of a pool lives on the I/O thread: no locks below.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <optional>
#include <thread>

#include "core/http_client.h"

namespace smacs {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

namespace {

// Upstream replies are bounded too: a backend is trusted less than the config says.
constexpr uint64_t kMaxReplyBytes = 64ull << 20;

// The process's one I/O thread for outgoing calls, started on first use.
class IoThread {
 public:
  static asio::io_context& context() {
    static IoThread instance;
    return instance.io_;
  }

 private:
  IoThread() : work_(asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~IoThread() {
    work_.reset();
    io_.stop();
    thread_.join();
  }
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

std::chrono::milliseconds ms_until(Deadline deadline, int cap_ms) {
  const double left = std::min<double>(cap_ms, ms_between(Clock::now(), deadline));
  return std::chrono::milliseconds(std::max<int64_t>(1, static_cast<int64_t>(left)));
}

// One attempt on `conn`: connect if needed, write, read. The reply's status and body, or the
// error (ec) that ended it.
struct Attempt {
  beast::error_code ec;
  int status = 0;
  std::string body;
  bool keep_alive = false;
};

Attempt failed_with(beast::error_code ec) {
  Attempt a;
  a.ec = ec;
  return a;
}

awaitable<Attempt> attempt_once(const std::string& host, const std::string& port,
                                beast::tcp_stream& conn,
                                const http::request<http::string_body>& req,
                                std::chrono::milliseconds timeout) {
  Attempt out;
  conn.expires_after(timeout);
  if (!conn.socket().is_open()) {
    tcp::resolver resolver(co_await asio::this_coro::executor);
    auto [rec, endpoints] = co_await resolver.async_resolve(host, port, kNoThrow);
    if (rec) co_return failed_with(rec);
    auto [cec, ep] = co_await conn.async_connect(endpoints, kNoThrow);
    if (cec) co_return failed_with(cec);
    conn.socket().set_option(tcp::no_delay(true));
  }
  auto [wec, written] = co_await http::async_write(conn, req, kNoThrow);
  if (wec) co_return failed_with(wec);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxReplyBytes);
  auto [rec, read] = co_await http::async_read(conn, buffer, parser, kNoThrow);
  if (rec) co_return failed_with(rec);
  out.status = parser.get().result_int();
  out.keep_alive = parser.get().keep_alive();
  out.body = std::move(parser.get().body());
  co_return out;
}

}  // namespace

struct HttpClientPool::Async {
  std::string host, port, host_header;
  size_t open = 0;  // connections in use or idle
  std::vector<std::unique_ptr<beast::tcp_stream>> idle;
  std::deque<std::shared_ptr<asio::steady_timer>> waiting;  // calls waiting for a connection

  // A connection, or null when none frees up before the deadline.
  awaitable<std::unique_ptr<beast::tcp_stream>> acquire(size_t cap, Deadline deadline) {
    while (idle.empty() && open >= cap) {
      auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
      timer->expires_at(deadline);
      waiting.push_back(timer);
      const auto [ec] = co_await timer->async_wait(kNoThrow);
      if (!ec && idle.empty() && open >= cap) {  // the deadline, not a release: give up
        std::erase(waiting, timer);
        co_return nullptr;
      }
    }
    if (!idle.empty()) {
      auto c = std::move(idle.back());
      idle.pop_back();
      co_return c;
    }
    ++open;
    co_return std::make_unique<beast::tcp_stream>(co_await asio::this_coro::executor);
  }

  // Back to the pool (or closed when it is broken) and the next waiter woken.
  void release(std::unique_ptr<beast::tcp_stream> c, bool reusable) {
    if (reusable && c->socket().is_open())
      idle.push_back(std::move(c));
    else
      --open;
    if (!waiting.empty()) {
      waiting.front()->cancel();
      waiting.pop_front();
    }
  }
};

bool HttpClientPool::can_post_async() const { return async_ != nullptr; }

void HttpClientPool::post_async(const std::string& path, std::string payload, Deadline deadline,
                                std::function<bool(const std::string&)> usable, std::string what,
                                std::function<void(HttpResult)> done) const {
  // The coroutine owns copies of what it reads: it may outlive this pool object.
  auto call = [async = async_, endpoint = endpoint_, target = base_path_ + path,
               payload = std::move(payload), deadline, usable = std::move(usable),
               what = std::move(what)]() -> awaitable<std::optional<HttpResult>> {
    Async& a = *async;
    const HttpEndpoint& endpoint_ = endpoint;
    HttpError err;
    auto conn = co_await a.acquire(endpoint_.max_connections, deadline);
    if (!conn) {
      err.message = "no free connection before the deadline (max_concurrency " +
                    std::to_string(endpoint_.max_connections) + ")";
      err.timed_out = true;
      co_return failure(std::move(err));
    }
    http::request<http::string_body> req{http::verb::post, target, 11};
    req.set(http::field::host, a.host_header);
    req.set(http::field::content_type, "application/json");
    if (!endpoint_.api_key.empty())
      req.set(http::field::authorization, "Bearer " + endpoint_.api_key);
    req.keep_alive(true);
    req.body() = payload;
    req.prepare_payload();
    bool reusable = false;
    for (int attempt = 0; attempt <= endpoint_.retries; ++attempt) {
      const double left_ms = ms_between(Clock::now(), deadline);
      if (left_ms <= 1) {
        err.message = err.message.empty() ? "deadline passed" : err.message + "; deadline passed";
        err.timed_out = true;
        break;
      }
      if (attempt > 0) {  // exponential backoff, never past the deadline
        asio::steady_timer backoff(co_await asio::this_coro::executor);
        backoff.expires_after(std::chrono::milliseconds(static_cast<int64_t>(
            std::min<double>(endpoint_.backoff_ms << (attempt - 1), left_ms - 1))));
        co_await backoff.async_wait(kNoThrow);
      }
      ++err.attempts;
      const bool pooled = conn->socket().is_open();
      Attempt r = co_await attempt_once(a.host, a.port, *conn, req,
                                        ms_until(deadline, endpoint_.timeout_ms));
      if (r.ec && pooled && r.ec != beast::error::timeout) {
        // A kept-alive connection the server had closed meanwhile: one fresh connection, not
        // an attempt of its own.
        beast::error_code ignored;
        conn->socket().close(ignored);
        r = co_await attempt_once(a.host, a.port, *conn, req,
                                  ms_until(deadline, endpoint_.timeout_ms));
      }
      err.timed_out = false;
      reusable = false;
      if (r.ec) {
        beast::error_code ignored;
        conn->socket().close(ignored);
        err.status = 0;
        err.timed_out = r.ec == beast::error::timeout;
        err.message = (err.timed_out ? "timed out: " : "connection failed: ") + r.ec.message();
      } else if (r.status != 200) {
        reusable = r.keep_alive;
        err.status = r.status;
        err.message = "HTTP " + std::to_string(r.status) + ": " + r.body.substr(0, 200);
      } else if (usable && !usable(r.body)) {
        reusable = r.keep_alive;
        err.status = 502;  // garbage is worth one more try
        err.message = "malformed reply (not " + what + "): " + r.body.substr(0, 120);
      } else {
        a.release(std::move(conn), r.keep_alive);
        co_return HttpReply{std::move(r.body), err.attempts};
      }
      if (!reusable && conn->socket().is_open()) {
        beast::error_code ignored;
        conn->socket().close(ignored);
      }
      if (!retryable_status(err.status)) break;
    }
    a.release(std::move(conn), reusable);
    co_return failure(std::move(err));
  };
  asio::co_spawn(
      IoThread::context(), std::move(call),
      [done = std::move(done)](std::exception_ptr, std::optional<HttpResult> r) {
        // Empty only if the coroutine threw (it should not): still an answer.
        done(r ? std::move(*r)
               : HttpResult(failure(HttpError{.message = "internal error in the HTTP client"})));
      });
}

// Only plain http:// goes async; https:// keeps the blocking client (it carries TLS).
std::shared_ptr<HttpClientPool::Async> HttpClientPool::make_async(const std::string& origin) {
  if (origin.rfind("http://", 0) != 0) return nullptr;
  auto a = std::make_shared<Async>();
  a->host_header = origin.substr(7);
  const auto colon = a->host_header.rfind(':');
  const bool has_port =
      colon != std::string::npos && a->host_header.find(']', colon) == std::string::npos;
  a->host = has_port ? a->host_header.substr(0, colon) : a->host_header;
  a->port = has_port ? a->host_header.substr(colon + 1) : "80";
  if (a->host.size() > 2 && a->host.front() == '[') a->host = a->host.substr(1, a->host.size() - 2);
  return a;
}

}  // namespace smacs
