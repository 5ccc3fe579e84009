// HttpClientPool::post_async: the same POST as `post` (retries, backoff, timeouts, deadline,
// connection cap, TLS with the server's certificate and name verified), on one shared I/O
// thread instead of a thread per call. Written as a coroutine (Asio + Beast) so that the retry
// loop reads like `post`'s.
//
// Every connection and waiter of a pool lives on the I/O thread: no locks below.
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <deque>
#include <optional>
#include <thread>

#include "core/error.h"
#include "core/hop.h"
#include "core/http_client.h"
#include "core/io_threads.h"
#include "core/utf8.h"

namespace smacs {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

namespace {

// Upstream replies are bounded too: a backend is trusted less than the config says.
constexpr uint64_t kMaxReplyBytes = 64ull << 20;

std::chrono::milliseconds ms_until(Deadline deadline, int cap_ms) {
  const double left = std::min<double>(cap_ms, ms_between(Clock::now(), deadline));
  return std::chrono::milliseconds(std::max<int64_t>(1, static_cast<int64_t>(left)));
}

// What one attempt got: the reply's status and body, or the error (ec) that ended it.
struct Attempt {
  beast::error_code ec;
  bool connected = false;  // with ec: the connection was made, then failed or closed
  int status = 0;
  std::string body;
  std::string retry_after;
  bool keep_alive = false;
  bool streamed = false;      // body bytes went to the sink: no retry can undo that
  bool stopped = false;       // the sink asked for no more (its client went): not a failure
  bool invalid_utf8 = false;  // the streamed body held an ill-formed byte
  std::string too_large;      // the body watch stopped the read: why
  std::string content_type;
};

// What an attempt reads from a reply's head, whatever its body type.
template <class Message>
void take_head(const Message& reply, Attempt& out) {
  out.status = reply.result_int();
  out.retry_after = std::string(reply[http::field::retry_after]);
  out.keep_alive = reply.keep_alive();
}

Attempt failed_with(beast::error_code ec) {
  Attempt a;
  a.ec = ec;
  return a;
}

// What a call's abandonment watch can stop (I/O thread only): the connection it is using, the
// timer it is waiting on.
struct CallWatch {
  AbandonFlag flag;
  bool abandoned = false;
  bool finished = false;
  struct Connection* conn = nullptr;
  asio::steady_timer* wait = nullptr;
  std::shared_ptr<asio::steady_timer> tick;
};

// One connection: TCP, and TLS over it for https:// (a TLS stream is not reused once closed,
// so each new connection gets a fresh one).
struct Connection {
  beast::tcp_stream plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  bool ready = false;  // connected (and shaken hands)

  explicit Connection(const asio::any_io_executor& ex) : plain(ex) {}
  beast::tcp_stream& tcp() { return tls ? tls->next_layer() : plain; }
  void close() {
    beast::error_code ignored;
    tcp().socket().close(ignored);
    ready = false;
  }
};

// Every 100 ms while the call runs: once its client has left, close its connection (a pending
// read or write ends at once) or wake it from its wait; the call then gives up.
void watch_for_abandon(std::shared_ptr<CallWatch> w) {
  if (w->finished) return;
  if (abandoned(w->flag)) {
    w->abandoned = true;
    if (w->conn) w->conn->close();
    if (w->wait) w->wait->cancel();
    return;
  }
  w->tick->expires_after(std::chrono::milliseconds(100));
  w->tick->async_wait([w](beast::error_code ec) {
    if (!ec) watch_for_abandon(w);
  });
}

// Ends a call's watch when the call ends, however it ends.
struct EndWatch {
  std::shared_ptr<CallWatch> w;
  ~EndWatch() {
    w->finished = true;
    if (w->tick) w->tick->cancel();
  }
};

// Waits, without a thread, until the sink has passed a piece on (true) or wants no more
// (false); nullopt when the deadline came first.
awaitable<std::optional<bool>> hand_over(const HttpClientPool::StreamSink& sink, std::string piece,
                                         Deadline deadline) {
  const auto ex = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(ex);
  auto go_on = std::make_shared<std::optional<bool>>();
  timer->expires_at(deadline);
  sink(std::move(piece), [timer, go_on, ex](bool ok) {
    asio::post(ex, [timer, go_on, ok] {
      *go_on = ok;
      timer->cancel();
    });
  });
  co_await timer->async_wait(kNoThrow);
  co_return *go_on;
}

// The body piece by piece: a 200 text/event-stream reply into the sink (UTF-8 checked across
// pieces); any other reply into out.body, bounded, and shown to `watch` (given for a 200 reply
// only) as it comes.
template <class Stream>
awaitable<void> read_pieces(Stream& stream, beast::flat_buffer& buffer,
                            http::response_parser<http::buffer_body>& parser,
                            const HttpClientPool::StreamSink* sink, const BodyWatch& watch,
                            Deadline deadline, Attempt& out) {
  const bool events =
      sink && out.status == 200 && out.content_type.starts_with("text/event-stream");
  Utf8Stream utf8;
  char piece[16384];
  while (!parser.is_done()) {
    parser.get().body().data = piece;
    parser.get().body().size = sizeof piece;
    // read_some: a piece goes on as soon as it is in, not once 16 KiB are.
    auto [ec, n] = co_await http::async_read_some(stream, buffer, parser, kNoThrow);
    if (ec == http::error::need_buffer) ec = {};
    const size_t got = sizeof piece - parser.get().body().size;
    if (!events) {
      if (out.body.size() + got > kMaxReplyBytes) ec = http::error::body_limit;
      out.body.append(piece, got);
      if (watch && got > 0)
        if (auto why = watch(std::string_view(piece, got))) {
          out.too_large = std::move(*why);
          co_return;
        }
    } else if (got > 0) {
      if (!utf8.feed(std::string_view(piece, got))) {
        out.invalid_utf8 = true;
        co_return;
      }
      out.streamed = true;
      const std::optional<bool> go_on =
          co_await hand_over(*sink, std::string(piece, got), deadline);
      if (!go_on) out.ec = beast::error::timeout;
      out.stopped = go_on == false;
      if (!go_on || !*go_on) co_return;
    }
    if (ec) {
      out.ec = ec;
      co_return;
    }
  }
}

// Write the request, read the reply, on a plain or a TLS stream; with a sink, a streamed
// reply goes there as it arrives; with a body watch, a 200 reply is read in pieces it sees.
template <class Stream>
awaitable<Attempt> exchange(Stream& stream, const http::request<http::string_body>& req,
                            const HttpClientPool::StreamSink* sink,
                            const std::function<BodyWatch()>& make_watch, Deadline deadline) {
  Attempt out;
  out.connected = true;
  auto [wec, written] = co_await http::async_write(stream, req, kNoThrow);
  if (wec) {
    out.ec = wec;
    co_return out;
  }
  beast::flat_buffer buffer;
  if (sink || make_watch) {
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);  // a stream is bounded by the deadline, the rest below
    auto [hec, n] = co_await http::async_read_header(stream, buffer, parser, kNoThrow);
    if (hec) {
      out.ec = hec;
      co_return out;
    }
    take_head(parser.get(), out);
    out.content_type = std::string(parser.get()[http::field::content_type]);
    const BodyWatch watch = make_watch && out.status == 200 ? make_watch() : nullptr;
    co_await read_pieces(stream, buffer, parser, sink, watch, deadline, out);
    co_return out;
  }
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxReplyBytes);
  auto [rec, read] = co_await http::async_read(stream, buffer, parser, kNoThrow);
  if (rec) {
    out.ec = rec;
    co_return out;
  }
  take_head(parser.get(), out);
  out.body = std::move(parser.get().body());
  co_return out;
}

}  // namespace

struct HttpClientPool::Async {
  std::string host, port, host_header;
  std::optional<asio::ssl::context> tls;  // https:// only
  size_t open = 0;                        // connections in use or idle
  std::vector<std::unique_ptr<Connection>> idle;
  std::deque<std::shared_ptr<asio::steady_timer>> waiting;  // calls waiting for a connection

  // A connection, or null when none frees up before the deadline or the call is abandoned.
  awaitable<std::unique_ptr<Connection>> acquire(size_t cap, Deadline deadline, CallWatch& w) {
    while (idle.empty() && open >= cap) {
      auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
      timer->expires_at(deadline);
      waiting.push_back(timer);
      w.wait = timer.get();
      const auto [ec] = co_await timer->async_wait(kNoThrow);
      w.wait = nullptr;
      if (w.abandoned) {
        // Woken by a release meanwhile (no longer waiting): that wake-up is the next waiter's.
        if (std::erase(waiting, timer) == 0 && !waiting.empty()) {
          waiting.front()->cancel();
          waiting.pop_front();
        }
        co_return nullptr;
      }
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
    co_return std::make_unique<Connection>(co_await asio::this_coro::executor);
  }

  // Back to the pool (or closed when it is broken) and the next waiter woken.
  void release(std::unique_ptr<Connection> c, bool reusable) {
    if (reusable && c->ready)
      idle.push_back(std::move(c));
    else
      --open;
    if (!waiting.empty()) {
      waiting.front()->cancel();
      waiting.pop_front();
    }
  }

  // One attempt on `c`: connect (and shake hands) if needed, write, read.
  awaitable<Attempt> attempt(Connection& c, const http::request<http::string_body>& req,
                             std::chrono::milliseconds timeout, const StreamSink* sink,
                             const std::function<BodyWatch()>& make_watch, Deadline deadline) {
    if (!c.ready) {
      const auto ex = co_await asio::this_coro::executor;
      c.tls.reset();
      if (tls) {
        c.tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ex, *tls);
        // SNI, and the certificate must name this host.
        if (!SSL_set_tlsext_host_name(c.tls->native_handle(), host.c_str()))
          co_return failed_with(beast::error_code(static_cast<int>(::ERR_get_error()),
                                                  asio::error::get_ssl_category()));
        c.tls->set_verify_callback(asio::ssl::host_name_verification(host));
      }
      c.tcp().expires_after(timeout);
      tcp::resolver resolver(ex);
      auto [rec, endpoints] = co_await resolver.async_resolve(host, port, kNoThrow);
      if (rec) co_return failed_with(rec);
      auto [cec, ep] = co_await c.tcp().async_connect(endpoints, kNoThrow);
      if (cec) co_return failed_with(cec);
      c.tcp().socket().set_option(tcp::no_delay(true));
      if (c.tls) {
        auto [hec] = co_await c.tls->async_handshake(asio::ssl::stream_base::client, kNoThrow);
        if (hec) co_return failed_with(hec);
      }
      c.ready = true;
    }
    c.tcp().expires_after(timeout);
    // (Not a ?: of two co_awaits: GCC 12 miscompiles that.)
    if (c.tls) co_return co_await exchange(*c.tls, req, sink, make_watch, deadline);
    co_return co_await exchange(c.tcp(), req, sink, make_watch, deadline);
  }
};

void HttpClientPool::post_async(const std::string& path, std::string payload, Deadline deadline,
                                std::function<bool(const std::string&)> usable, std::string what,
                                std::function<void(HttpResult)> done, AbandonFlag abandon) const {
  call_async(path, std::move(payload), deadline, std::move(usable), std::move(what), nullptr,
             std::move(done), std::move(abandon));
}

void HttpClientPool::post_stream_async(const std::string& path, std::string payload,
                                       Deadline deadline,
                                       std::function<bool(const std::string&)> usable,
                                       std::string what, StreamSink sink,
                                       std::function<void(HttpResult)> done,
                                       AbandonFlag abandon) const {
  call_async(path, std::move(payload), deadline, std::move(usable), std::move(what),
             std::make_shared<StreamSink>(std::move(sink)), std::move(done), std::move(abandon));
}

void HttpClientPool::call_async(const std::string& path, std::string payload, Deadline deadline,
                                std::function<bool(const std::string&)> usable, std::string what,
                                std::shared_ptr<StreamSink> sink,
                                std::function<void(HttpResult)> done, AbandonFlag abandon) const {
  // The coroutine owns copies of what it reads: it may outlive this pool object.
  auto call = [async = async_, endpoint = endpoint_, target = base_path_ + path,
               payload = std::move(payload), deadline, usable = std::move(usable),
               what = std::move(what), sink,
               abandon = std::move(abandon)]() -> awaitable<std::optional<HttpResult>> {
    Async& a = *async;
    const HttpEndpoint& endpoint_ = endpoint;
    HttpError err;
    auto w = std::make_shared<CallWatch>();
    const EndWatch end_watch{w};
    if (abandon) {
      w->flag = abandon;
      w->tick = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
      watch_for_abandon(w);
    }
    auto gave_up = [&err] {
      err = HttpError{.message = "stopped: the client it was for left",
                      .attempts = err.attempts,
                      .kind = FailureKind::kAbandoned};
      return failure(std::move(err));
    };
    auto conn = co_await a.acquire(endpoint_.max_connections, deadline, *w);
    if (w->abandoned) co_return gave_up();
    if (!conn) co_return failure(no_free_connection(endpoint_.max_connections));
    http::request<http::string_body> req{http::verb::post, target, 11};
    req.set(http::field::host, a.host_header);
    req.set(http::field::content_type, "application/json");
    req.set(kHopHeader, hop_token());
    if (!endpoint_.api_key.empty())
      req.set(http::field::authorization, "Bearer " + endpoint_.api_key);
    req.keep_alive(true);
    if (sink) req.set(http::field::accept, "text/event-stream");
    req.body() = payload;
    req.prepare_payload();
    bool reusable = false;
    w->conn = conn.get();
    for (int attempt = 0; attempt <= endpoint_.retries && !w->abandoned; ++attempt) {
      const auto wait = wait_before_attempt_ms(err, attempt, endpoint_.backoff_ms, deadline);
      if (!wait) break;
      if (*wait > 0) {
        asio::steady_timer backoff(co_await asio::this_coro::executor);
        backoff.expires_after(std::chrono::milliseconds(static_cast<int64_t>(*wait)));
        w->wait = &backoff;
        co_await backoff.async_wait(kNoThrow);
        w->wait = nullptr;
        if (w->abandoned) break;
      }
      ++err.attempts;
      const bool pooled = conn->ready;
      // A stream's time limit is the deadline: a long answer may take longer than one attempt.
      const auto timeout = ms_until(deadline, sink ? 1 << 30 : endpoint_.timeout_ms);
      Attempt r =
          co_await a.attempt(*conn, req, timeout, sink.get(), endpoint_.body_watch, deadline);
      if (r.ec && pooled && !r.streamed && r.ec != beast::error::timeout && !w->abandoned) {
        // A kept-alive connection the server had closed meanwhile: one fresh connection, not
        // an attempt of its own. (Not when the abandon watch closed it.)
        conn->close();
        r = co_await a.attempt(*conn, req, timeout, sink.get(), endpoint_.body_watch, deadline);
      }
      reusable = false;
      if (w->abandoned) {  // the watch closed the connection under the attempt
        conn->close();
        break;
      }
      if (!r.too_large.empty()) {  // the rest is not read: the connection cannot be reused
        conn->close();
        err = HttpError{.status = 200,
                        .message = std::move(r.too_large),
                        .attempts = err.attempts,
                        .kind = FailureKind::kTooLarge};
        break;  // the same request would get the same reply
      } else if (r.invalid_utf8) {
        conn->close();
        err.status = 502;
        err.kind = FailureKind::kInvalidUtf8;
        err.message = "invalid UTF-8 in the streamed reply";
      } else if (r.ec) {
        conn->close();
        transport_failure(err, r.ec == beast::error::timeout, r.connected, r.ec.message());
      } else if (r.stopped) {  // the connection has the rest of a reply nobody reads
        conn->close();
        a.release(std::move(conn), false);
        co_return HttpReply{"", err.attempts, true, r.content_type};
      } else if (r.streamed) {
        a.release(std::move(conn), r.keep_alive);
        co_return HttpReply{"", err.attempts, true, r.content_type};
      } else {
        bool good;
        if (r.body.size() > kParseElsewhereBytes) {  // off the I/O thread and back; the
          // connection is not touched meanwhile
          co_await asio::post(parse_pool(), asio::bind_executor(parse_pool(), asio::use_awaitable));
          good = judge_reply(r.status, r.body, r.retry_after, usable, what, err);
          co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
        } else {
          good = judge_reply(r.status, r.body, r.retry_after, usable, what, err);
        }
        if (good) {
          a.release(std::move(conn), r.keep_alive);
          co_return HttpReply{std::move(r.body), err.attempts, false, r.content_type};
        }
        reusable = r.keep_alive;
      }
      if (!reusable && conn->ready) conn->close();
      if (r.streamed || !retryable_status(err.status)) break;
    }
    w->conn = nullptr;
    a.release(std::move(conn), reusable && !w->abandoned);
    if (w->abandoned) co_return gave_up();
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

// http:// and https:// (TLS over the same pool, verified against the system's CA store or the
// endpoint's ca_file).
std::shared_ptr<HttpClientPool::Async> HttpClientPool::make_async(const HttpEndpoint& endpoint,
                                                                  const std::string& origin) {
  const bool https = origin.rfind("https://", 0) == 0;
  auto a = std::make_shared<Async>();
  a->host_header = origin.substr(https ? 8 : 7);
  const auto colon = a->host_header.rfind(':');
  const bool has_port =
      colon != std::string::npos && a->host_header.find(']', colon) == std::string::npos;
  a->host = has_port ? a->host_header.substr(0, colon) : a->host_header;
  a->port = has_port ? a->host_header.substr(colon + 1) : https ? "443" : "80";
  if (a->host.size() > 2 && a->host.front() == '[') a->host = a->host.substr(1, a->host.size() - 2);
  if (https) {
    a->tls.emplace(asio::ssl::context::tls_client);
    beast::error_code ec;
    if (endpoint.ca_file.empty())
      a->tls->set_default_verify_paths(ec);
    else
      a->tls->load_verify_file(endpoint.ca_file, ec);
    if (ec)
      throw Error(origin + ": cannot load " +
                  (endpoint.ca_file.empty() ? "the system's CA certificates" : endpoint.ca_file) +
                  ": " + ec.message());
    a->tls->set_verify_mode(asio::ssl::verify_peer);
  }
  return a;
}

}  // namespace smacs
