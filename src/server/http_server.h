// The HTTP/1.1 server under `smacs serve` and `smacs replay-serve`: one event loop (Boost.Beast
// on Asio) reads and writes every connection, so an idle or slow client costs a few KB and no
// thread; a pool of worker threads runs the handlers (a handler may also answer later, from
// another thread, without holding its worker: HttpResponse::answer_later), and a route that
// answers in microseconds runs on the event thread itself, without a thread hop.
//
// Hostile clients meet limits at every step: a deadline for the whole header, an idle
// keep-alive timeout, a cap on header bytes and fields, one Content-Length, chunked bodies
// counted against the body limit as they arrive, a cap on connections (a fast 503 beyond it)
// and on queued requests. A broken request gets a 4xx JSON error and the connection is closed.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/abandon.h"

namespace smacs {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // the target without its query string
  std::string body;
  HttpHeaders headers;
  std::string remote;                               // the peer's address
  std::string header(std::string_view name) const;  // case-insensitive; "" when absent
};

struct HttpResponse;

// A streamed response whose pieces come later from any thread, without a thread waiting (a
// backend's events as they arrive): HttpResponse::stream_later. Every call returns at once;
// the pieces go out in order, the status line and headers with the first.
class StreamReply {
 public:
  virtual ~StreamReply() = default;
  // Queues a piece; `written(ok)` once it is on the wire (false: the client is gone), from the
  // event thread (keep it short).
  virtual void write(std::string piece, std::function<void(bool ok)> written = {}) = 0;
  // The last chunk (ok), or the stream cut short (a broken response the client can tell).
  virtual void end(bool ok = true) = 0;
  // Finishes with `plain` as a whole response when nothing was streamed yet; else writes
  // `if_started` (an error event, say) and ends the stream.
  virtual void respond(HttpResponse plain, std::string if_started) = 0;
  // While nothing else is written for `ms`, writes `comment` (an SSE keep-alive comment),
  // starting the stream when it has not started.
  virtual void keep_alive(int ms, std::string comment) = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  HttpHeaders headers;
  HttpHeaders notes;  // fields for the access log, never sent
  void set_header(std::string name, std::string value);

  // Answer after the handler has returned, without a thread waiting: the handler calls this,
  // returns, and later (from any thread) calls the returned function with the response to
  // send. Only the first response is sent: one the handler throws after deferring is a 500,
  // and a deferred reply after it is dropped. Only in handlers run by the workers.
  using Reply = std::function<void(HttpResponse)>;
  Reply answer_later();
  // The same for a streamed answer: this response's status and headers head the stream.
  std::shared_ptr<StreamReply> stream_later();
  bool deferred() const { return deferred_; }
  // For a deferred answer: set once the client has closed its connection meanwhile (the server
  // looks every 250 ms while the answer is pending), so work nobody will read can stop
  // (core/abandon.h).
  AbandonFlag client_gone_flag() const { return client_gone_; }
  // From a handler run on the event thread (an inline route): the rest of the work, `rest(req,
  // res)` with this response, runs on a worker once the handler returns. For a handler that
  // looks at a request in microseconds and only sometimes has more to do (answer_later and
  // stream_later work there too). From a worker, `rest` simply runs next.
  void finish_on_worker(std::function<void(const HttpRequest&, HttpResponse&)> rest);
  // Set by the server before the handler runs; handlers use answer_later and stream_later.
  Reply reply_later_;
  std::function<std::shared_ptr<StreamReply>(const HttpResponse&)> stream_later_;
  std::function<void(const HttpRequest&, HttpResponse&)> rest_;
  std::shared_ptr<std::atomic<bool>> client_gone_;

 private:
  bool deferred_ = false;
};

using HttpHandler = std::function<void(const HttpRequest&, HttpResponse&)>;

struct HttpLimits {
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;  // request line and all fields
  size_t max_header_fields = 100;
  int header_timeout_ms = 10000;  // from a request's first byte to its last header line
  int body_timeout_ms = 30000;    // for the body after the header
  int idle_timeout_ms = 30000;    // a keep-alive connection waiting for its next request
  int write_timeout_ms = 30000;   // per response write
  size_t max_connections = 20000;
  size_t workers = 64;           // handler threads
  size_t max_queued = 4096;      // requests waiting for or in a handler; beyond: 503
  int drain_timeout_ms = 10000;  // stop(): how long in-flight requests may take to finish
  std::vector<std::string> cors_origins{};  // allowed browser origins ("*" = any); empty = no CORS
};

class HttpServer {
 public:
  explicit HttpServer(HttpLimits limits);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // An exact path, or a prefix when `path` ends in '*' ("/v1/models/*"). A known path asked with
  // another method is a 405 with Allow; an unknown one a 404.
  // `inline_handler`: run it on the event thread itself (only for handlers that never block and
  // take microseconds, such as /health: they then answer even while every worker is busy, and
  // no thread hop is paid; one with more to do hands it on with finish_on_worker). A body over
  // 16 KiB still goes to a worker.
  void route(const std::string& method, const std::string& path, HttpHandler handler,
             bool inline_handler = false);
  // Called on the event thread once a request's header has arrived, before any of its body is
  // read: a response to send instead (a 401, say; the connection then closes), or nullopt to go
  // on. `head` has no body. Keep it short: it runs on the event thread.
  void on_header(std::function<std::optional<HttpResponse>(const HttpRequest& head)> check);
  // Called on every whole response (not a stream's pieces) just before it is written, errors
  // the server makes itself included (413, 431, 404, ...): to give them another API's shape.
  void before_send(std::function<void(const HttpRequest&, HttpResponse&)> hook);
  // Called for every answered request (on the worker or event thread): for logs and metrics.
  void on_response(std::function<void(const HttpRequest&, const HttpResponse&, double ms)> hook);

  int bind(const std::string& host, int port);  // port 0 = any free one; throws smacs::Error
  void run();  // serves until stop(), then drains: returns when the last request is done
  // Graceful: stop accepting, close idle connections, let requests in flight finish (up to
  // drain_timeout_ms), then close the rest. Thread-safe; returns at once.
  void stop();

  size_t connections() const;  // open now

  struct Impl;  // the event loop, connections and routes (http_server.cpp)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace smacs
