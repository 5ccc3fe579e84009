// The Backend seam: something that answers an OpenAI-style chat completion request.
#pragma once
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace smacs {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

struct BackendReply {
  bool ok = false;
  std::string content;    // the assistant message text (ok)
  nlohmann::json body;    // the upstream response JSON (ok)
  int status = 0;         // last HTTP status, 0 when no response came
  std::string error;      // why it failed (!ok)
  double latency_ms = 0;  // wall time including retries
  int attempts = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // `request` is an OpenAI chat completion body; the backend sets its own upstream model id.
  // Never runs past `deadline`; never throws.
  virtual BackendReply complete(const nlohmann::json& request, Deadline deadline) = 0;
  virtual const std::string& name() const = 0;
};

struct HttpBackendConfig {
  std::string name;             // the pool name clients and the prior bank use
  std::string base_url;         // e.g. http://127.0.0.1:8000/v1
  std::string model;            // upstream model id (default: name)
  std::string api_key;          // sent as Bearer (from api_key_env)
  size_t max_concurrency = 16;  // in-flight requests (and pooled keep-alive connections)
  int timeout_ms = 30000;       // per attempt
  int retries = 2;              // extra attempts on 429, 5xx and connection errors
  int backoff_ms = 50;          // first retry delay, doubled each time
};

// An OpenAI-compatible HTTP endpoint with keep-alive connections, a concurrency limit,
// timeouts and retries with exponential backoff.
std::unique_ptr<Backend> make_http_backend(const HttpBackendConfig& config);

}  // namespace smacs
