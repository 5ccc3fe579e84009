// The Backend seam: something that answers an OpenAI-style chat completion request.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/abandon.h"
#include "core/deadline.h"
#include "core/failure_kind.h"
#include "core/result.h"

namespace smacs {

// What a backend answered.
struct Completion {
  std::string content{};  // the assistant message text
  nlohmann::json body;    // the upstream response JSON (null after streaming: it went out)
  std::string raw{};      // HTTP backends: the reply's bytes as they came (valid UTF-8 JSON)
  double latency_ms = 0;  // wall time including retries
  int attempts = 0;
};

// Why a backend gave no answer.
struct BackendError {
  int status = 0;          // last HTTP status, 0 when no response came
  std::string message{};   // valid UTF-8
  bool timed_out = false;  // time ran out
  FailureKind kind = FailureKind::kOther;
  double retry_after_s = 0;  // how long the backend asked to be left alone (429), if it said
  double latency_ms = 0;     // wall time including retries
  int attempts = 0;
  // The backend refused the request itself (a 4xx other than 408 and 429): the request is at
  // fault, not the backend, and no retry elsewhere would help.
  bool refused() const { return status >= 400 && status < 500 && status != 408 && status != 429; }
};

using BackendReply = Result<Completion, BackendError>;

// The wall time of one call, answered or not.
inline double latency_ms(const BackendReply& r) {
  return r.ok() ? r->latency_ms : r.error().latency_ms;
}

// One token count from an OpenAI reply's `usage` (e.g. "prompt_tokens"); nullopt when absent.
std::optional<int64_t> usage_tokens(const nlohmann::json& reply_body, const char* key);

// What a model's tokens cost, USD per million; negative = unknown.
struct Price {
  std::optional<double> prompt, completion;  // nullopt: unknown
  bool known() const { return prompt && completion; }
  // The cost of so many tokens; nullopt when the price is unknown.
  std::optional<double> cost(double prompt_tokens, double completion_tokens) const;
  // The cost of one reply from its `usage`; nullopt when the price or the usage is unknown.
  std::optional<double> cost_of(const nlohmann::json& reply_body) const;
};

// A stream request's stream_options.include_usage.
bool wants_usage(const nlohmann::json& request);
// A chat completion (its first choice) as the Server-Sent Events a stream of it would be.
std::vector<std::string> completion_events(const nlohmann::json& body, const std::string& model,
                                           bool usage);

class Backend {
 public:
  virtual ~Backend() = default;
  // `request` is an OpenAI chat completion body; the backend sets its own upstream model id.
  // Never runs past `deadline`; never throws.
  virtual BackendReply complete(const nlohmann::json& request, Deadline deadline) = 0;
  // The reply as Server-Sent Events, handed to `on_bytes` as they are made (false: stop). The
  // returned reply has no body; !ok before any byte was sent means nothing was. This default
  // completes first, then sends the whole answer as events.
  virtual BackendReply stream(const nlohmann::json& request, Deadline deadline,
                              const std::function<bool(std::string_view)>& on_bytes);
  // `complete` without a thread waiting for the answer, where the backend can (an HTTP
  // endpoint): `done` is called once, on an I/O thread (keep it short). Returns false, and
  // does nothing, where it cannot: the caller then calls `complete`. `fields` is
  // fields_for_upstream(request) (api/openai_api.h), serialised once for all the backends asked.
  // Once `abandon` is set (core/abandon.h: the client left), the call stops early and `done`
  // gets a FailureKind::kAbandoned error.
  virtual bool complete_async(const nlohmann::json& request, std::string_view fields,
                              Deadline deadline, std::function<void(BackendReply)> done,
                              AbandonFlag abandon);
  // `stream` without a thread waiting, where the backend can: the events go to `sink` as
  // they arrive (pass each on, then call resume(true), or resume(false) to stop), then `done`
  // once (ok: every byte went; !ok with nothing sent: nothing did). A backend answering a
  // stream request with plain JSON has it turned into events. False where it cannot. `abandon`
  // as for complete_async (a stream that has not started yet stops too).
  using StreamSink = std::function<void(std::string piece, std::function<void(bool go_on)> resume)>;
  virtual bool stream_async(const nlohmann::json& request, Deadline deadline, StreamSink sink,
                            std::function<void(BackendReply)> done, AbandonFlag abandon);
  virtual const std::string& name() const = 0;
};

struct HttpBackendConfig {
  std::string name{};           // the pool name clients and the prior bank use
  std::string base_url{};       // e.g. http://127.0.0.1:8000/v1
  std::string model{};          // upstream model id (default: name)
  std::string api_key{};        // sent as Bearer (from api_key_env)
  size_t max_concurrency = 16;  // in-flight requests (and pooled keep-alive connections)
  int timeout_ms = 30000;       // per attempt
  int retries = 2;              // extra attempts on 429, 5xx and connection errors
  int backoff_ms = 50;          // first retry delay, doubled each time
  std::string ca_file{};        // https: CA certificates (PEM) to trust instead of the system's
  // > 0: a reply whose message text is longer fails as FailureKind::kTooLarge, its body read no
  // further than that (a dedicated aggregator: smacs.max_candidate_bytes).
  size_t max_content_bytes = 0;
};

// An OpenAI-compatible HTTP endpoint with keep-alive connections, a concurrency limit,
// timeouts and retries with exponential backoff.
std::unique_ptr<Backend> make_http_backend(const HttpBackendConfig& config);

struct LlamaBackendConfig {
  std::string name{};        // the pool name
  std::string gguf{};        // model file
  uint32_t context = 4096;   // tokens per slot (prompt + reply); 0 = the model's own
  int threads = 0;           // CPU threads per slot; 0 = all cores
  size_t slots = 1;          // requests generated at once
  size_t max_queue = 64;     // waiting requests beyond this are refused at once
  int max_tokens = 512;      // reply length when the request sets none
  float temperature = 0.8f;  // request defaults; temperature 0 = greedy
  float top_p = 0.95f;
  int top_k = 40;
  uint64_t seed = 42;
};

// A GGUF model run in this process through llama.cpp (generation/llama_backend.cpp).
// Throws smacs::Error for a missing or bad GGUF file, or when smacs was built without llama.cpp.
std::unique_ptr<Backend> make_llama_backend(const LlamaBackendConfig& config);

// One pool member of a config: an HTTP endpoint or an in-process GGUF model.
struct BackendConfig {
  enum class Type { kHttp, kLlama } type = Type::kHttp;
  HttpBackendConfig http;
  LlamaBackendConfig llama;
  Price price;  // for the bank's cost column and the gateway's cost trace
  const std::string& name() const { return type == Type::kHttp ? http.name : llama.name; }
  // Requests worth sending at once: more only queue.
  size_t max_concurrency() const {
    return type == Type::kHttp ? http.max_concurrency : llama.slots;
  }
};

std::unique_ptr<Backend> make_backend(const BackendConfig& config);

}  // namespace smacs
