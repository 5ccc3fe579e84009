#include "server/http_server.h"

#include <malloc.h>
#include <poll.h>
#include <sys/resource.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <deque>
#include <optional>
#include <unordered_map>

#include "api/openai_api.h"
#include "core/deadline.h"
#include "core/error.h"

namespace smacs {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (beast::iequals(k, name)) return v;
  return "";
}

HttpResponse::Reply HttpResponse::answer_later() {
  deferred_ = true;
  return reply_later_;
}

std::shared_ptr<StreamReply> HttpResponse::stream_later() {
  deferred_ = true;
  return stream_later_(*this);
}

void HttpResponse::finish_on_worker(std::function<void(const HttpRequest&, HttpResponse&)> rest) {
  rest_ = std::move(rest);
}

void HttpResponse::set_header(std::string name, std::string value) {
  for (auto& [k, v] : headers)
    if (beast::iequals(k, name)) return void(v = std::move(value));
  headers.emplace_back(std::move(name), std::move(value));
}

namespace {

std::chrono::milliseconds ms(int n) { return std::chrono::milliseconds(n); }

// An inline route's handler runs on the event thread only for bodies up to this size (parsing
// 16 KiB of JSON takes tens of microseconds; the loop serves every other connection meanwhile).
constexpr size_t kInlineBodyBytes = 16 << 10;

HttpResponse error_response(int status, std::string message, std::string code) {
  HttpResponse r;
  r.status = status;
  ApiError e{status, status >= 500 ? "server_error" : "invalid_request_error", std::move(message),
             "", std::move(code)};
  r.body = error_body(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

struct Route {
  std::string method, path;
  bool prefix = false;
  HttpHandler handler;
  bool inline_handler = false;
  bool matches(const std::string& p) const { return prefix ? p.rfind(path, 0) == 0 : p == path; }
};

// Runs a handler into `res`; false when it threw (`res` is then a 500).
bool run_handler(const HttpHandler& handler, const HttpRequest& req, HttpResponse& res) {
  try {
    handler(req, res);
    return true;
  } catch (const std::exception& e) {
    res = error_response(500, std::string("internal error: ") + e.what(), "internal_error");
    return false;
  }
}

class Session;
std::shared_ptr<StreamReply> make_streamer(std::shared_ptr<Session> session,
                                           std::shared_ptr<HttpRequest> req,
                                           const HttpResponse& head,
                                           std::shared_ptr<std::atomic<bool>> sent);

}  // namespace

struct HttpServer::Impl {
  explicit Impl(HttpLimits l)
      : limits(std::move(l)), workers(std::max<size_t>(1, limits.workers)) {}

  HttpLimits limits;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::steady_timer timer{io};  // accept back-off and the drain poll
  asio::steady_timer trim_timer{io};
  size_t open_at_last_look = 0;
  std::vector<Route> routes;
  std::function<void(const HttpRequest&, const HttpResponse&, double)> hook;
  std::function<std::optional<HttpResponse>(const HttpRequest&)> header_check;
  std::function<void(const HttpRequest&, HttpResponse&)> before_send;
  std::atomic<size_t> open{0};    // connections
  std::atomic<size_t> queued{0};  // requests handed to the workers, not yet answered
  std::atomic<bool> stopping{false};
  Clock::time_point drain_deadline{};
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;  // event thread only
  asio::thread_pool workers;  // last: joined first on destruction, while the loop still exists

  void accept();
  void refuse(tcp::socket socket);
  void trim_memory_later();
  void begin_stop();
  void poll_drain();
  // The handler for (method, path), or an error response: 404, 405 with Allow, a preflight.
  const Route* find(const HttpRequest& req, HttpResponse& res) const;
  void add_cors(const HttpRequest& req, HttpResponse& res) const;
  void answered(const HttpRequest& req, const HttpResponse& res, Clock::time_point start) const {
    if (hook) hook(req, res, ms_since(start));
  }
};

namespace {

// One connection. Everything but the handler and a stream's body runs on the event thread.
class Session : public std::enable_shared_from_this<Session> {
  friend class Streamer;

 public:
  Session(tcp::socket socket, HttpServer::Impl& server)
      : stream_(std::move(socket)),
        server_(server),
        buffer_(server.limits.max_header_bytes + (16 << 10)) {
    ++server_.open;
    beast::error_code ec;
    remote_ = stream_.socket().remote_endpoint(ec).address().to_string();
  }
  ~Session() { --server_.open; }

  void start() {
    server_.sessions[this] = weak_from_this();
    wait_for_request();
  }
  void close_if_idle() {
    if (!busy_) close();
  }

 private:
  // Between requests: the idle timeout until the next request's first byte.
  void wait_for_request() {
    busy_ = false;
    if (server_.stopping) return close();
    if (buffer_.size() > 0) return read_header();
    stream_.expires_after(ms(server_.limits.idle_timeout_ms));
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) return self->close();
                              self->buffer_.commit(n);
                              self->read_header();
                            });
  }

  void read_header() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_.limits.max_header_bytes));
    parser_->body_limit(server_.limits.max_body_bytes);
    stream_.expires_after(ms(server_.limits.header_timeout_ms));
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) return fail(ec);
    start_ = Clock::now();
    size_t fields = 0, lengths = 0;
    for (const auto& f : parser_->get()) {
      ++fields;
      if (f.name() == http::field::content_length) ++lengths;
    }
    if (fields > server_.limits.max_header_fields)
      return reject(
          431, "more than " + std::to_string(server_.limits.max_header_fields) + " header fields",
          "header_too_large");
    if (lengths > 1) return reject(400, "more than one Content-Length header", "bad_request");
    if (server_.header_check) {  // e.g. the API key: refused before the body costs anything
      auto head = std::make_shared<HttpRequest>();
      fill(*head, parser_->get());
      if (auto refused = server_.header_check(*head)) {
        busy_ = true;
        keep_alive_ = false;
        return respond(*head, std::move(*refused));
      }
    }
    if (parser_->is_done()) return dispatch();
    auto read_body = [self = shared_from_this()] {
      self->stream_.expires_after(ms(self->server_.limits.body_timeout_ms));
      http::async_read(self->stream_, self->buffer_, *self->parser_,
                       [self](beast::error_code ec, size_t) {
                         if (ec) return self->fail(ec);
                         self->dispatch();
                       });
    };
    if (!beast::iequals(parser_->get()[http::field::expect], "100-continue")) return read_body();
    static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::async_write(stream_, asio::buffer(kContinue),
                      [self = shared_from_this(), read_body](beast::error_code ec, size_t) {
                        if (ec) return self->close();
                        read_body();
                      });
  }

  void fail(beast::error_code ec) {
    if (ec == http::error::body_limit)
      return reject(413,
                    "the request body is larger than the server accepts (" +
                        std::to_string(server_.limits.max_body_bytes) + " bytes)",
                    "request_too_large");
    if (ec == http::error::buffer_overflow)
      return reject(431, "a chunked trailer is larger than the server accepts", "header_too_large");
    if (ec == http::error::header_limit) {
      // The request line itself did not fit (no target parsed): it is the URL that is too long.
      if (parser_ && !parser_->is_header_done() && parser_->get().target().empty())
        return reject(414, "the request URL is longer than the server accepts", "uri_too_long");
      return reject(431,
                    "the request header (or a chunked trailer) is larger than the server accepts",
                    "header_too_large");
    }
    if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message)
      return reject(400, "malformed HTTP request: " + ec.message(), "bad_request");
    close();  // timeout, reset, or the client went away
  }

  // A request the server will not read further: answer and close.
  void reject(int status, std::string message, std::string code) {
    busy_ = true;
    keep_alive_ = false;
    HttpRequest req;
    req.remote = remote_;
    if (parser_) {  // the request line is in once the header is, or a body was too long for it
      req.method = std::string(parser_->get().method_string());
      const std::string_view target = parser_->get().target();
      req.path = std::string(target.substr(0, target.find('?')));
    }
    respond(req, error_response(status, std::move(message), std::move(code)));
  }

  void dispatch() {
    busy_ = true;
    auto msg = parser_->release();
    parser_.reset();
    keep_alive_ = msg.keep_alive();
    auto req = std::make_shared<HttpRequest>();
    fill(*req, msg);
    req->body = std::move(msg.body());
    HttpResponse res;
    const Route* route = server_.find(*req, res);
    if (!route) return respond(*req, std::move(res));
    // A large body goes to a worker even on an inline route: parsing it would hold the loop.
    const bool here = route->inline_handler && req->body.size() <= kInlineBodyBytes;
    if (!here && server_.queued >= server_.limits.max_queued) return busy(*req);
    ++server_.queued;
    if (here) return handle(req, route->handler);
    asio::post(server_.workers,
               [self = shared_from_this(), req, route] { self->handle(req, route->handler); });
  }

  // Runs `handler` (on this thread) and answers on the event thread, once: by it, by a
  // deferred reply or by the rest it hands to a worker, whichever comes first (a handler that
  // deferred and then threw still gets its 500 out).
  void handle(std::shared_ptr<HttpRequest> req, const HttpHandler& handler, HttpResponse res = {},
              std::shared_ptr<std::atomic<bool>> sent = nullptr) {
    if (!sent) sent = std::make_shared<std::atomic<bool>>(false);
    HttpResponse::Reply reply = [self = shared_from_this(), req, sent](HttpResponse res) {
      if (sent->exchange(true)) return;
      asio::post(self->stream_.get_executor(), [self, req, res = std::move(res)]() mutable {
        --self->server_.queued;
        self->respond(*req, std::move(res));
      });
    };
    res.reply_later_ = reply;
    if (!res.client_gone_) res.client_gone_ = std::make_shared<std::atomic<bool>>(false);
    res.stream_later_ = [self = shared_from_this(), req, sent](const HttpResponse& head) {
      return make_streamer(self, req, head, sent);
    };
    if (!run_handler(handler, *req, res)) return reply(std::move(res));
    if (res.deferred()) {
      asio::post(stream_.get_executor(), [self = shared_from_this(), sent,
                                          gone = res.client_gone_] { self->watch(sent, gone); });
      return;
    }
    if (auto rest = std::move(res.rest_)) {
      res.rest_ = nullptr;
      if (!on_event_thread()) return handle(req, rest, std::move(res), sent);
      if (server_.queued > server_.limits.max_queued) return reply(busy_response());
      asio::post(server_.workers,
                 [self = shared_from_this(), req, rest = std::move(rest), res = std::move(res),
                  sent]() mutable { self->handle(req, rest, std::move(res), sent); });
      return;
    }
    reply(std::move(res));
  }

  // While a deferred answer is pending the connection is not read: a peer that closed it shows
  // as POLLRDHUP. Looked at every 250 ms until the answer is sent; `gone` tells the handler.
  void watch(std::shared_ptr<std::atomic<bool>> sent, std::shared_ptr<std::atomic<bool>> gone) {
    if (*sent || *gone) return;
    pollfd p{.fd = stream_.socket().native_handle(), .events = POLLRDHUP, .revents = 0};
    if (!stream_.socket().is_open() ||
        (::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))))
      return gone->store(true);
    auto timer = std::make_shared<asio::steady_timer>(stream_.get_executor(), ms(250));
    timer->async_wait([self = shared_from_this(), timer, sent, gone](beast::error_code) {
      self->watch(sent, gone);
    });
  }

  bool on_event_thread() const { return server_.io.get_executor().running_in_this_thread(); }
  static HttpResponse busy_response() {
    return error_response(503, "the server is busy; retry later", "overloaded");
  }
  void busy(const HttpRequest& req) { respond(req, busy_response()); }

  // The request's method, path, headers and peer (not its body).
  template <class Header>
  void fill(HttpRequest& req, const Header& msg) const {
    req.method = std::string(msg.method_string());
    const std::string_view target = msg.target();
    req.path = std::string(target.substr(0, target.find('?')));
    for (const auto& f : msg) req.headers.emplace_back(f.name_string(), f.value());
    req.remote = remote_;
  }

  // Writes a whole response (event thread); then the next request, or close. Whatever goes
  // wrong in building it (a header value Beast refuses, a throwing hook), the client still
  // gets an answer: a plain 500.
  void respond(const HttpRequest& req, HttpResponse res) {
    std::shared_ptr<http::response<http::string_body>> msg;
    auto logged = std::make_shared<std::pair<HttpRequest, HttpResponse>>();
    try {
      if (server_.before_send) server_.before_send(req, res);
      server_.add_cors(req, res);
      logged->first = HttpRequest{.method = req.method,
                                  .path = req.path,
                                  .body = {},
                                  .headers = req.headers,
                                  .remote = req.remote};
      logged->second.status = res.status;
      logged->second.notes = res.notes;
      msg = std::make_shared<http::response<http::string_body>>(
          static_cast<http::status>(res.status), 11);
      head(*msg, res);
      if (req.method != "HEAD") msg->body() = std::move(res.body);
      msg->prepare_payload();
      if (req.method == "HEAD") msg->content_length(res.body.size());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "smacs: http: cannot send a %d response: %s\n", res.status, e.what());
      msg = std::make_shared<http::response<http::string_body>>(http::status::internal_server_error,
                                                                11);
      msg->set(http::field::content_type, "application/json");
      msg->body() =
          error_response(500, "internal error: the response could not be built", "internal_error")
              .body;
      msg->keep_alive(false);
      msg->prepare_payload();
    }
    stream_.expires_after(ms(server_.limits.write_timeout_ms));
    http::async_write(stream_, *msg,
                      [self = shared_from_this(), msg, logged](beast::error_code ec, size_t) {
                        // Logged once on the wire: a client that left is a 499 (nginx's code).
                        if (ec) logged->second.status = 499;
                        try {
                          self->server_.answered(logged->first, logged->second, self->start_);
                        } catch (const std::exception&) {  // a log that fails loses one line
                        }
                        if (ec) return self->close();
                        if (!msg->keep_alive()) return self->linger_close();
                        self->wait_for_request();
                      });
  }

  template <class Message>
  void head(Message& msg, const HttpResponse& res) const {
    msg.set(http::field::server, "smacs");
    if (!res.content_type.empty()) msg.set(http::field::content_type, res.content_type);
    for (const auto& [k, v] : res.headers) msg.set(k, v);
    msg.keep_alive(keep_alive_ && !server_.stopping);
  }

  // Closing with unread request bytes would reset the connection and could destroy the reply
  // before the client reads it: send FIN first, then discard what still arrives, bounded.
  void linger_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    stream_.expires_after(ms(1000));
    discard(0);
  }
  void discard(size_t total) {
    if (total > (1u << 20)) return close();
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(16384),
                            [self = shared_from_this(), total](beast::error_code ec, size_t n) {
                              if (ec) return self->close();
                              self->discard(total + n);
                            });
  }

  void close() {
    server_.sessions.erase(this);
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  HttpServer::Impl& server_;
  // Bounded: the header by its limit; a chunked body's trailer, which Beast does not count
  // against any limit, by this buffer's size (beyond it: 431, not a thrown length_error).
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string remote_;
  bool busy_ = false;  // a request is being read, handled or answered
  bool keep_alive_ = true;
  Clock::time_point start_ = Clock::now();
};

// A StreamReply on one session: every call hops to the event thread, where a queue writes the
// pieces one at a time (a slow reader holds the queue, not a thread).
class Streamer : public StreamReply, public std::enable_shared_from_this<Streamer> {
 public:
  Streamer(std::shared_ptr<Session> session, std::shared_ptr<HttpRequest> req, HttpResponse head,
           std::shared_ptr<std::atomic<bool>> sent)
      : s_(std::move(session)),
        req_(std::move(req)),
        head_(std::move(head)),
        sent_(std::move(sent)),
        timer_(s_->stream_.get_executor()) {}

  void write(std::string piece, std::function<void(bool)> written) override {
    on_loop([piece = std::move(piece), written = std::move(written)](Streamer& me) mutable {
      me.queue_.emplace_back(std::move(piece), std::move(written));
      me.pump();
    });
  }
  void end(bool ok) override {
    on_loop([ok](Streamer& me) {
      me.ending_ = true;
      me.end_ok_ = ok;
      me.pump();
    });
  }
  void respond(HttpResponse plain, std::string if_started) override {
    on_loop([plain = std::move(plain), if_started = std::move(if_started)](Streamer& me) mutable {
      if (!me.started_ && !me.writing_ && me.queue_.empty()) {
        me.done_ = true;
        me.timer_.cancel();
        --me.s_->server_.queued;
        return me.s_->respond(*me.req_, std::move(plain));
      }
      me.head_.status = plain.status;  // for the log: the stream ended in this error
      me.queue_.emplace_back(std::move(if_started), nullptr);
      me.ending_ = true;
      me.pump();
    });
  }
  void keep_alive(int ms, std::string comment) override {
    on_loop([ms, comment = std::move(comment)](Streamer& me) mutable {
      me.keep_ms_ = ms;
      me.comment_ = std::move(comment);
      me.arm();
    });
  }

 private:
  // Runs `f` on the event thread; nothing once the worker answered for this request (its
  // handler threw) or the stream is over.
  template <class F>
  void on_loop(F f) {
    if (!claimed_.exchange(true) && sent_->exchange(true)) dropped_ = true;
    asio::post(s_->stream_.get_executor(), [me = shared_from_this(), f = std::move(f)]() mutable {
      if (me->dropped_ || me->done_) return me->fail_queue();
      f(*me);
    });
  }

  void fail_queue() {
    for (auto& [piece, written] : queue_)
      if (written) written(false);
    queue_.clear();
  }

  void arm() {
    if (keep_ms_ <= 0 || done_) return;
    timer_.expires_after(ms(keep_ms_));
    timer_.async_wait([me = shared_from_this()](beast::error_code ec) {
      if (ec || me->done_) return;
      if (!me->writing_ && me->queue_.empty() && ms_since(me->last_write_) >= me->keep_ms_ - 1) {
        me->queue_.emplace_back(me->comment_, nullptr);
        me->pump();
      }
      me->arm();
    });
  }

  // Writes the next thing due: the header, a queued piece, or the end.
  void pump() {
    if (writing_ || done_) return;
    Session& s = *s_;
    if (!started_ && (!queue_.empty() || (ending_ && end_ok_))) {
      msg_ = std::make_shared<http::response<http::empty_body>>(
          static_cast<http::status>(head_.status), 11);
      s.server_.add_cors(*req_, head_);
      s.head(*msg_, head_);
      msg_->chunked(true);
      started_ = writing_ = true;
      auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*msg_);
      s.stream_.expires_after(ms(s.server_.limits.write_timeout_ms));
      http::async_write_header(
          s.stream_, *sr,
          [me = shared_from_this(), sr](beast::error_code ec, size_t) { me->wrote(!ec, nullptr); });
      return;
    }
    if (!queue_.empty()) {
      auto piece = std::make_shared<std::string>(std::move(queue_.front().first));
      auto written = std::move(queue_.front().second);
      queue_.pop_front();
      writing_ = true;
      s.stream_.expires_after(ms(s.server_.limits.write_timeout_ms));
      asio::async_write(s.stream_, http::make_chunk(asio::buffer(*piece)),
                        [me = shared_from_this(), piece, written = std::move(written)](
                            beast::error_code ec, size_t) { me->wrote(!ec, written); });
      return;
    }
    if (!ending_) return;
    if (!started_ || !end_ok_) return finish(false);
    writing_ = true;
    s.stream_.expires_after(ms(s.server_.limits.write_timeout_ms));
    asio::async_write(s.stream_, http::make_chunk_last(),
                      [me = shared_from_this()](beast::error_code ec, size_t) {
                        me->writing_ = false;
                        me->finish(!ec);
                      });
  }

  void wrote(bool ok, const std::function<void(bool)>& written) {
    writing_ = false;
    last_write_ = Clock::now();
    if (written) written(ok);
    if (!ok) head_.status = 499;  // the client is gone
    if (!ok) return finish(false);
    pump();
  }

  // The request is over: logged, counted, and the connection reused only after a whole stream.
  void finish(bool ok) {
    if (done_) return;
    done_ = true;
    timer_.cancel();
    fail_queue();
    Session& s = *s_;
    --s.server_.queued;
    if (!ok) head_.notes.emplace_back("stream", "cut");
    s.server_.answered(*req_, head_, s.start_);
    if (ok && msg_ && msg_->keep_alive()) return s.wait_for_request();
    s.close();
  }

  std::shared_ptr<Session> s_;
  std::shared_ptr<HttpRequest> req_;
  HttpResponse head_;
  std::shared_ptr<std::atomic<bool>> sent_;
  std::atomic<bool> claimed_{false};
  std::atomic<bool> dropped_{false};  // the worker answered first (its handler threw)
  // Event thread only:
  std::deque<std::pair<std::string, std::function<void(bool)>>> queue_;
  std::shared_ptr<http::response<http::empty_body>> msg_;
  bool started_ = false, writing_ = false, ending_ = false, end_ok_ = true, done_ = false;
  asio::steady_timer timer_;
  int keep_ms_ = 0;
  std::string comment_;
  Clock::time_point last_write_ = Clock::now();
};

std::shared_ptr<StreamReply> make_streamer(std::shared_ptr<Session> session,
                                           std::shared_ptr<HttpRequest> req,
                                           const HttpResponse& head,
                                           std::shared_ptr<std::atomic<bool>> sent) {
  return std::make_shared<Streamer>(std::move(session), std::move(req), head, std::move(sent));
}

}  // namespace

void HttpServer::Impl::accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (stopping || ec == asio::error::operation_aborted) return;
    if (ec) {  // e.g. out of file descriptors: back off instead of spinning
      timer.expires_after(ms(50));
      timer.async_wait([this](beast::error_code) { accept(); });
      return;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);  // no Nagle + delayed-ACK stalls
    if (open >= limits.max_connections)
      refuse(std::move(socket));
    else
      std::make_shared<Session>(std::move(socket), *this)->start();
    accept();
  });
}

// glibc keeps what closed connections freed (their buffers, a refused upload's first MiB)
// for reuse; once connections have gone, hand it back to the system so that RSS comes down.
// (The smacs program runs on jemalloc, which does this itself: this serves a glibc embedder.)
// A look every 2 s, a trim only when connections closed since the last one.
void HttpServer::Impl::trim_memory_later() {
  trim_timer.expires_after(ms(2000));
  trim_timer.async_wait([this](beast::error_code ec) {
    if (ec || stopping) return;
    const size_t now = open;
    if (now < open_at_last_look) ::malloc_trim(0);
    open_at_last_look = now;
    trim_memory_later();
  });
}

// Over the connection cap: a canned 503, written without waiting, and close.
void HttpServer::Impl::refuse(tcp::socket socket) {
  static const std::string body = error_body({.status = 503,
                                              .type = "server_error",
                                              .message = "too many connections; retry later",
                                              .code = "overloaded"})
                                      .dump();
  static const std::string reply =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
      "application/json\r\nConnection: close\r\nRetry-After: 1\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  beast::error_code ec;
  socket.non_blocking(true, ec);
  asio::write(socket, asio::buffer(reply), ec);
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

const Route* HttpServer::Impl::find(const HttpRequest& req, HttpResponse& res) const {
  std::string allow;
  for (const auto& r : routes) {
    if (!r.matches(req.path)) continue;
    if (r.method == req.method || (req.method == "HEAD" && r.method == "GET")) return &r;
    if (allow.find(r.method) == std::string::npos) allow += (allow.empty() ? "" : ", ") + r.method;
  }
  if (allow.empty()) {
    res = error_response(404, "no such endpoint: " + req.method + " " + req.path, "not_found");
  } else if (req.method == "OPTIONS" && !limits.cors_origins.empty() &&
             !req.header("Access-Control-Request-Method").empty()) {
    res.status = 204;  // a browser's CORS preflight
    res.content_type.clear();
    res.set_header("Access-Control-Allow-Methods", allow + ", OPTIONS");
    const std::string asked = req.header("Access-Control-Request-Headers");
    res.set_header("Access-Control-Allow-Headers",
                   asked.empty() ? "authorization, content-type, x-request-id" : asked);
    res.set_header("Access-Control-Max-Age", "600");
  } else {
    res = error_response(
        405, req.method + " is not allowed on " + req.path + " (allowed: " + allow + ")",
        "method_not_allowed");
    res.set_header("Allow", allow);
  }
  return nullptr;
}

void HttpServer::Impl::add_cors(const HttpRequest& req, HttpResponse& res) const {
  if (limits.cors_origins.empty()) return;
  res.set_header("Vary", "Origin");  // whatever the origin, or none: caches must keep them apart
  const std::string origin = req.header("Origin");
  if (origin.empty()) return;
  for (const auto& allowed : limits.cors_origins)
    if (allowed == "*" || allowed == origin) {
      res.set_header("Access-Control-Allow-Origin", origin);
      res.set_header("Access-Control-Expose-Headers", "x-request-id");
      return;
    }
}

void HttpServer::Impl::begin_stop() {
  if (stopping.exchange(true)) return;
  beast::error_code ec;
  acceptor.close(ec);
  timer.cancel();
  trim_timer.cancel();
  drain_deadline = Clock::now() + ms(limits.drain_timeout_ms);
  poll_drain();
}

// While draining: close connections as they fall idle; stop the loop when none is left or
// the drain deadline has passed.
void HttpServer::Impl::poll_drain() {
  std::vector<std::shared_ptr<Session>> live;
  for (auto& [p, weak] : sessions)
    if (auto s = weak.lock()) live.push_back(std::move(s));
  for (auto& s : live) s->close_if_idle();
  if ((open == 0 && queued == 0) || Clock::now() >= drain_deadline) return io.stop();
  timer.expires_after(ms(20));
  timer.async_wait([this](beast::error_code) { poll_drain(); });
}

HttpServer::HttpServer(HttpLimits limits) : impl_(std::make_unique<Impl>(std::move(limits))) {}
HttpServer::~HttpServer() {
  impl_->workers.join();  // handlers still running finish before the loop goes away
}

void HttpServer::route(const std::string& method, const std::string& path, HttpHandler handler,
                       bool inline_handler) {
  Route r{method, path, false, std::move(handler), inline_handler};
  if (!r.path.empty() && r.path.back() == '*') {
    r.path.pop_back();
    r.prefix = true;
  }
  impl_->routes.push_back(std::move(r));
}

void HttpServer::on_header(
    std::function<std::optional<HttpResponse>(const HttpRequest& head)> check) {
  impl_->header_check = std::move(check);
}

void HttpServer::before_send(std::function<void(const HttpRequest&, HttpResponse&)> hook) {
  impl_->before_send = std::move(hook);
}

void HttpServer::on_response(
    std::function<void(const HttpRequest&, const HttpResponse&, double)> hook) {
  impl_->hook = std::move(hook);
}

int HttpServer::bind(const std::string& host, int port) {
  // Every connection is a file descriptor: allow as many as the system lets this process have.
  rlimit fds{};
  if (::getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur < fds.rlim_max) {
    fds.rlim_cur = fds.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &fds);
  }
  beast::error_code ec;
  const auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) throw Error("cannot listen on '" + host + "': not an IP address");
  const tcp::endpoint at(address, static_cast<uint16_t>(port));
  auto& a = impl_->acceptor;
  a.open(at.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(at, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw Error("cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
  return a.local_endpoint().port();
}

void HttpServer::run() {
  impl_->accept();
  impl_->trim_memory_later();
  for (;;) {
    try {
      impl_->io.run();
      return;
    } catch (const std::exception& e) {  // a bug in a connection must not take the server down
      std::fprintf(stderr, "smacs: http: internal error, connection dropped: %s\n", e.what());
    }
  }
}

void HttpServer::stop() {
  asio::post(impl_->io, [impl = impl_.get()] { impl->begin_stop(); });
}

size_t HttpServer::connections() const { return impl_->open; }

}  // namespace smacs
