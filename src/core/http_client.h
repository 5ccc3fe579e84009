// JSON over HTTP to one OpenAI-compatible endpoint: a pool of keep-alive connections (at most
// `max_connections`), per-attempt timeouts, and retries with exponential backoff on connection
// errors, 429, 5xx and unusable replies, never past the caller's deadline. Thread-safe.
// The chat backend (generation/) and the embeddings client (embedding/) both talk through it.
#pragma once
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/deadline.h"
#include "core/result.h"

namespace httplib {
class Client;
}

namespace smacs {

struct HttpEndpoint {
  std::string base_url{};  // http(s)://host:port/base, e.g. http://127.0.0.1:8000/v1
  std::string api_key{};   // sent as Bearer when set
  size_t max_connections = 16;
  int timeout_ms = 30000;  // per attempt
  int retries = 2;         // extra attempts
  int backoff_ms = 50;     // first retry delay, doubled each time
  std::string ca_file{};   // https: trust these CA certificates (PEM) instead of the system's
};

// A failed attempt worth another: no reply at all, 429 or a 5xx (a 4xx is the request's fault).
inline bool retryable_status(int status) { return status == 0 || status == 429 || status >= 500; }

struct HttpReply {
  std::string body;  // the usable reply (post_stream: empty, the body went to on_bytes)
  int attempts = 0;
};

struct HttpError {
  int status = 0;          // last HTTP status, 0 when no response came
  std::string message;     // why the call failed
  bool timed_out = false;  // time ran out (a read timeout or the deadline)
  int attempts = 0;
};

using HttpResult = Result<HttpReply, HttpError>;

class HttpClientPool {
 public:
  explicit HttpClientPool(HttpEndpoint endpoint);  // throws smacs::Error for a bad base_url
  ~HttpClientPool();

  // POSTs `payload` to base path + `path`. A 200 reply is usable when `usable(body)` says so
  // (default: always); an unusable one counts as a retryable failure named by `what`.
  HttpResult post(const std::string& path, const std::string& payload, Deadline deadline,
                  const std::function<bool(const std::string&)>& usable = {},
                  const std::string& what = "reply") const;

  // POSTs `payload` and hands the 200 reply's body to `on_bytes` as it arrives (false: stop).
  // Retries only failures before the first byte. A non-200 reply's body (its start) is in
  // the error's message, not streamed.
  HttpResult post_stream(const std::string& path, const std::string& payload, Deadline deadline,
                         const std::function<bool(std::string_view)>& on_bytes) const;

  // The same POST without a thread waiting for it: the call runs on the process's one I/O
  // thread for outgoing calls, and `done` is called there (keep it short). http:// and
  // https:// alike.
  void post_async(const std::string& path, std::string payload, Deadline deadline,
                  std::function<bool(const std::string&)> usable, std::string what,
                  std::function<void(HttpResult)> done) const;

  const HttpEndpoint& endpoint() const { return endpoint_; }

  struct Async;  // the async side's connections (http_client_async.cpp)

 private:
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
