// One connection of the HTTP server (server/http_session.h): reads a request within its limits,
// runs the route's handler (on the event thread for small inline ones, else on a worker), and
// writes the answer, whole or handed to a Streamer (http_stream.cpp).
#include "server/http_session.h"

#include <poll.h>

#include "api/openai_api.h"

namespace smacs::http_detail {

HttpResponse error_response(int status, std::string message, std::string code) {
  HttpResponse r;
  r.status = status;
  ApiError e{status, status >= 500 ? "server_error" : "invalid_request_error", std::move(message),
             "", std::move(code)};
  r.body = error_body(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

HttpResponse busy_response() {
  return error_response(503, "the server is busy; retry later", "overloaded");
}

bool run_handler(const HttpHandler& handler, const HttpRequest& req, HttpResponse& res) {
  try {
    handler(req, res);
    return true;
  } catch (const std::exception& e) {
    res = error_response(500, std::string("internal error: ") + e.what(), "internal_error");
    return false;
  }
}

void Session::start() {
  server_.sessions[this] = weak_from_this();
  wait_for_request();
}

void Session::close_if_idle() {
  if (!busy_) close();
}

// Between requests: the idle timeout until the next request's first byte.
void Session::wait_for_request() {
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

void Session::read_header() {
  parser_.emplace();
  parser_->header_limit(static_cast<uint32_t>(server_.limits.max_header_bytes));
  parser_->body_limit(server_.limits.max_body_bytes);
  stream_.expires_after(ms(server_.limits.header_timeout_ms));
  http::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
}

void Session::on_header(beast::error_code ec) {
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
    head->remote = remote_;
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

void Session::fail(beast::error_code ec) {
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
void Session::reject(int status, std::string message, std::string code) {
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

void Session::dispatch() {
  busy_ = true;
  auto msg = parser_->release();
  parser_.reset();
  keep_alive_ = msg.keep_alive();
  auto req = std::make_shared<HttpRequest>();
  fill(*req, msg);
  req->remote = remote_;
  req->body = std::move(msg.body());
  HttpResponse res;
  const Route* route = server_.find(*req, res);
  if (!route) return respond(*req, std::move(res));
  // A large body goes to a worker even on an inline route: parsing it would hold the loop.
  const bool here = route->inline_handler && req->body.size() <= kInlineBodyBytes;
  if (!here && server_.queued >= server_.limits.max_queued) return respond(*req, busy_response());
  ++server_.queued;
  if (here) return handle(req, route->handler);
  asio::post(server_.workers,
             [self = shared_from_this(), req, route] { self->handle(req, route->handler); });
}

// Runs `handler` (on this thread) and answers on the event thread, once: by it, by a
// deferred reply or by the rest it hands to a worker, whichever comes first (a handler that
// deferred and then threw still gets its 500 out).
void Session::handle(std::shared_ptr<HttpRequest> req, const HttpHandler& handler, HttpResponse res,
                     std::shared_ptr<std::atomic<bool>> sent) {
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
    asio::post(stream_.get_executor(), [self = shared_from_this(), sent, gone = res.client_gone_] {
      self->watch(sent, gone);
    });
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
void Session::watch(std::shared_ptr<std::atomic<bool>> sent,
                    std::shared_ptr<std::atomic<bool>> gone) {
  if (*sent || *gone) return;
  if (peer_closed()) return gone->store(true);
  auto timer = std::make_shared<asio::steady_timer>(stream_.get_executor(), ms(250));
  timer->async_wait([self = shared_from_this(), timer, sent, gone](beast::error_code) {
    self->watch(sent, gone);
  });
}

bool Session::peer_closed() {
  pollfd p{.fd = stream_.socket().native_handle(), .events = POLLRDHUP, .revents = 0};
  return !stream_.socket().is_open() ||
         (::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)));
}

// Writes a whole response (event thread); then the next request, or close. Whatever goes
// wrong in building it (a header value Beast refuses, a throwing hook), the client still
// gets an answer: a plain 500.
void Session::respond(const HttpRequest& req, HttpResponse res) {
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
    msg = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(res.status),
                                                              11);
    set_head(*msg, res, keeps_alive());
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

// Closing with unread request bytes would reset the connection and could destroy the reply
// before the client reads it: send FIN first, then discard what still arrives, bounded.
void Session::linger_close() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) return close();
  stream_.expires_after(ms(1000));
  discard(0);
}

void Session::discard(size_t total) {
  if (total > (1u << 20)) return close();
  buffer_.clear();
  stream_.async_read_some(buffer_.prepare(16384),
                          [self = shared_from_this(), total](beast::error_code ec, size_t n) {
                            if (ec) return self->close();
                            self->discard(total + n);
                          });
}

void Session::close() {
  server_.sessions.erase(this);
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
}

}  // namespace smacs::http_detail
