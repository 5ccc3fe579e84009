// Inside the HTTP server (server/http_server.h), shared by its three files: the server
// (http_server.cpp: accepting, routing, stopping), one connection (http_session.cpp: reading a
// request, running its handler, writing the answer) and a streamed answer (http_stream.cpp).
// Not for other code: include server/http_server.h.
#pragma once
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <unordered_map>

#include "core/deadline.h"
#include "server/http_server.h"

namespace smacs {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace http_detail {

inline std::chrono::milliseconds ms(int n) { return std::chrono::milliseconds(n); }

// An inline route's handler runs on the event thread only for bodies up to this size (parsing
// 16 KiB of JSON takes tens of microseconds; the loop serves every other connection meanwhile).
inline constexpr size_t kInlineBodyBytes = 16 << 10;

// A JSON error answer in the OpenAI shape.
HttpResponse error_response(int status, std::string message, std::string code);

struct Route {
  std::string method, path;
  bool prefix = false;
  HttpHandler handler;
  bool inline_handler = false;
  bool matches(const std::string& p) const { return prefix ? p.rfind(path, 0) == 0 : p == path; }
};

// Runs a handler into `res`; false when it threw (`res` is then a 500).
bool run_handler(const HttpHandler& handler, const HttpRequest& req, HttpResponse& res);

class Streamer;
class Session;
std::shared_ptr<StreamReply> make_streamer(std::shared_ptr<Session> session,
                                           std::shared_ptr<HttpRequest> req,
                                           const HttpResponse& head,
                                           std::shared_ptr<std::atomic<bool>> sent);

}  // namespace http_detail

struct HttpServer::Impl {
  explicit Impl(HttpLimits l)
      : limits(std::move(l)), workers(std::max<size_t>(1, limits.workers)) {}

  HttpLimits limits;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::steady_timer timer{io};  // accept back-off and the drain poll
  asio::steady_timer trim_timer{io};
  size_t open_at_last_look = 0;
  std::vector<http_detail::Route> routes;
  std::function<void(const HttpRequest&, const HttpResponse&, double)> hook;
  std::function<std::optional<HttpResponse>(const HttpRequest&)> header_check;
  std::function<void(const HttpRequest&, HttpResponse&)> before_send;
  std::atomic<size_t> open{0};    // connections
  std::atomic<size_t> queued{0};  // requests handed to the workers, not yet answered
  std::atomic<bool> stopping{false};
  Clock::time_point drain_deadline{};
  std::unordered_map<http_detail::Session*, std::weak_ptr<http_detail::Session>>
      sessions;               // event thread only
  asio::thread_pool workers;  // last: joined first on destruction, while the loop still exists

  void accept();
  void refuse(tcp::socket socket);
  void trim_memory_later();
  void begin_stop();
  void poll_drain();
  // The handler for (method, path), or an error response: 404, 405 with Allow, a preflight.
  const http_detail::Route* find(const HttpRequest& req, HttpResponse& res) const;
  void add_cors(const HttpRequest& req, HttpResponse& res) const;
  void answered(const HttpRequest& req, const HttpResponse& res, Clock::time_point start) const {
    if (hook) hook(req, res, ms_since(start));
  }
};

namespace http_detail {

// The request's method, path and headers (not its body).
template <class Header>
void fill(HttpRequest& req, const Header& msg) {
  req.method = std::string(msg.method_string());
  const std::string_view target = msg.target();
  req.path = std::string(target.substr(0, target.find('?')));
  for (const auto& f : msg) req.headers.emplace_back(f.name_string(), f.value());
}

// A response's header fields onto Beast's message.
template <class Message>
void set_head(Message& msg, const HttpResponse& res, bool keep_alive) {
  msg.set(http::field::server, "smacs");
  if (!res.content_type.empty()) msg.set(http::field::content_type, res.content_type);
  for (const auto& [k, v] : res.headers) msg.set(k, v);
  msg.keep_alive(keep_alive);
}

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

  void start();
  void close_if_idle();

 private:
  // Between requests: the idle timeout until the next request's first byte.
  void wait_for_request();

  void read_header();

  void on_header(beast::error_code ec);

  void fail(beast::error_code ec);

  // A request the server will not read further: answer and close.
  void reject(int status, std::string message, std::string code);

  void dispatch();

  // Runs `handler` (on this thread) and answers on the event thread, once: by it, by a
  // deferred reply or by the rest it hands to a worker, whichever comes first (a handler that
  // deferred and then threw still gets its 500 out).
  void handle(std::shared_ptr<HttpRequest> req, const HttpHandler& handler, HttpResponse res = {},
              std::shared_ptr<std::atomic<bool>> sent = nullptr);

  // While a deferred answer is pending the connection is not read: a peer that closed it shows
  // as POLLRDHUP. Looked at every 250 ms until the answer is sent; `gone` tells the handler.
  // (A stream, once it has begun, keeps looking itself: Streamer.)
  void watch(std::shared_ptr<std::atomic<bool>> sent, std::shared_ptr<std::atomic<bool>> gone);
  bool peer_closed();  // the client has closed (or lost) the connection

  bool on_event_thread() const { return server_.io.get_executor().running_in_this_thread(); }

  // Writes a whole response (event thread); then the next request, or close. Whatever goes
  // wrong in building it (a header value Beast refuses, a throwing hook), the client still
  // gets an answer: a plain 500.
  void respond(const HttpRequest& req, HttpResponse res);

  // Whether the connection stays open after this response.
  bool keeps_alive() const { return keep_alive_ && !server_.stopping; }

  // Closing with unread request bytes would reset the connection and could destroy the reply
  // before the client reads it: send FIN first, then discard what still arrives, bounded.
  void linger_close();
  void discard(size_t total);

  void close();

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

}  // namespace http_detail

}  // namespace smacs
