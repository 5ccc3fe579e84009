// The HTTP server (server/http_server.h): accepting connections within the cap, routing,
// CORS, a graceful stop. A connection's life is in http_session.cpp, a stream's in
// http_stream.cpp.
#include <malloc.h>
#include <sys/resource.h>

#include <cstdio>

#include "api/openai_api.h"
#include "core/error.h"
#include "server/http_session.h"

namespace smacs {

using http_detail::error_response;
using http_detail::ms;
using http_detail::Route;
using http_detail::Session;

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
