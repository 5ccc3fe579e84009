// JSON over HTTP to one OpenAI-compatible endpoint: a pool of keep-alive connections (at most
// `max_connections`), per-attempt timeouts, and retries with exponential backoff on connection
// errors, 429, 5xx and unusable replies, never past the caller's deadline. Thread-safe.
// The chat backend (generation/) and the embeddings client (embedding/) both talk through it.
#pragma once
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/abandon.h"
#include "core/deadline.h"
#include "core/failure_kind.h"
#include "core/result.h"

namespace httplib {
class Client;
}

namespace smacs {

// Looks at a 200 reply's body piece by piece as it arrives (the async calls only): a message
// stops the read there, and the call fails with it (FailureKind::kTooLarge, no retry).
using BodyWatch = std::function<std::optional<std::string>(std::string_view piece)>;

struct HttpEndpoint {
  std::string base_url{};  // http(s)://host:port/base, e.g. http://127.0.0.1:8000/v1
  std::string api_key{};   // sent as Bearer when set
  size_t max_connections = 16;
  int timeout_ms = 30000;  // per attempt
  int retries = 2;         // extra attempts
  int backoff_ms = 50;     // first retry delay, doubled each time
  std::string ca_file{};   // https: trust these CA certificates (PEM) instead of the system's
  std::function<BodyWatch()> body_watch{};  // a fresh watch per attempt; none: read whole
};

// A failed attempt worth another: no reply at all, 429 or a 5xx (a 4xx is the request's fault).
inline bool retryable_status(int status) { return status == 0 || status == 429 || status >= 500; }

struct HttpReply {
  std::string body;  // the usable reply (streamed: empty, the body went to the sink)
  int attempts = 0;
  bool streamed = false;     // post_stream_async: the body went to the sink as events
  std::string content_type;  // the reply's Content-Type
};

struct HttpError {
  int status = 0;          // last HTTP status, 0 when no response came
  std::string message;     // why the call failed (valid UTF-8: quoted bytes are made printable)
  bool timed_out = false;  // time ran out (a read timeout or the deadline)
  int attempts = 0;
  FailureKind kind = FailureKind::kOther;
  double retry_after_s = 0;  // a 429's Retry-After (seconds; 0: none given)
};

using HttpResult = Result<HttpReply, HttpError>;

// How the two clients read one reply (http_client.cpp): true when it is the usable 200;
// otherwise `err` says why not.
bool judge_reply(int status, const std::string& body, const std::string& retry_after,
                 const std::function<bool(const std::string&)>& usable, const std::string& what,
                 HttpError& err);
// No reply: time ran out, or the connection could not be made (`connected` false) or closed
// before the reply was complete.
void transport_failure(HttpError& err, bool timed_out, bool connected, const std::string& why);
// The error of a call that found no free connection before its deadline.
HttpError no_free_connection(size_t max_connections);
// How long to wait before attempt `attempt`: 0 for the first, then the backoff or a 429's
// Retry-After when longer. nullopt when no attempt is worth starting: the deadline has passed
// (`err` then says so) or the wait would end past it (`err` keeps the last real error: a 502,
// not a 504 for the time spent waiting).
std::optional<double> wait_before_attempt_ms(HttpError& err, int attempt, int backoff_ms,
                                             Deadline deadline);

class HttpClientPool {
 public:
  explicit HttpClientPool(HttpEndpoint endpoint);  // throws smacs::Error for a bad base_url
  ~HttpClientPool();

  // POSTs `payload` to base path + `path`. A 200 reply is usable when `usable(body)` says so
  // (default: always); an unusable one counts as a retryable failure named by `what`.
  HttpResult post(const std::string& path, const std::string& payload, Deadline deadline,
                  const std::function<bool(const std::string&)>& usable = {},
                  const std::string& what = "reply") const;

  // The same POST without a thread waiting for it: the call runs on the process's one I/O
  // thread for outgoing calls, and `done` is called there (keep it short). http:// and
  // https:// alike. Once `abandon` is set the call stops within ~100 ms: its connection is
  // closed, no retry follows, and `done` gets a FailureKind::kAbandoned error.
  void post_async(const std::string& path, std::string payload, Deadline deadline,
                  std::function<bool(const std::string&)> usable, std::string what,
                  std::function<void(HttpResult)> done, AbandonFlag abandon = nullptr) const;

  // Where a streamed reply's pieces go, on the I/O thread: pass the piece on, then call
  // `resume(true)` (from any thread) for the next, or `resume(false)` to stop reading.
  using StreamSink = std::function<void(std::string piece, std::function<void(bool go_on)> resume)>;
  // post_async for `"stream": true`: a 200 text/event-stream reply's body goes to `sink` as it
  // arrives (UTF-8 checked across pieces; no retry once a byte went), and `done` gets
  // streamed = true; any other 200 (a plain JSON reply) is judged by `usable` as post_async
  // does and comes whole in `done`'s body. Time is bounded by the deadline alone, not by the
  // per-attempt timeout.
  void post_stream_async(const std::string& path, std::string payload, Deadline deadline,
                         std::function<bool(const std::string&)> usable, std::string what,
                         StreamSink sink, std::function<void(HttpResult)> done,
                         AbandonFlag abandon = nullptr) const;

  const HttpEndpoint& endpoint() const { return endpoint_; }

  struct Async;  // the async side's connections (http_client_async.cpp)

 private:
  void call_async(const std::string& path, std::string payload, Deadline deadline,
                  std::function<bool(const std::string&)> usable, std::string what,
                  std::shared_ptr<StreamSink> sink, std::function<void(HttpResult)> done,
                  AbandonFlag abandon) const;
  static std::shared_ptr<Async> make_async(const HttpEndpoint& endpoint, const std::string& origin);
  std::unique_ptr<httplib::Client> acquire(Deadline deadline) const;
  void release(std::unique_ptr<httplib::Client> client) const;

  HttpEndpoint endpoint_;
  std::string origin_, base_path_;
  mutable std::mutex mutex_;
  mutable std::condition_variable free_;
  mutable std::vector<std::unique_ptr<httplib::Client>> idle_;
  mutable size_t created_ = 0;
  std::shared_ptr<Async> async_;
};

}  // namespace smacs
