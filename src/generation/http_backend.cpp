// An OpenAI-compatible HTTP endpoint as a Backend: chat completions through HttpClientPool.
#include "api/content_scan.h"
#include "api/openai_api.h"
#include "core/error.h"
#include "core/http_client.h"
#include "generation/backend.h"

namespace smacs {

namespace {

// A failed HTTP call as a backend failure.
BackendReply failed(const HttpResult& r, Clock::time_point start) {
  const HttpError& e = r.error();
  return failure(BackendError{.status = e.status,
                              .message = e.message,
                              .timed_out = e.timed_out,
                              .kind = e.kind,
                              .retry_after_s = e.retry_after_s,
                              .latency_ms = ms_since(start),
                              .attempts = e.attempts});
}

constexpr const char* kWhat = "an OpenAI chat completion";

// Reads a 200 reply into `reply`; false when it is not a chat completion (worth a retry).
bool read_completion(const std::string& body, Completion& reply) {
  try {
    reply.body = parse_json_body(body);
    const auto& message = reply.body.at("choices").at(0).at("message");
    if (!message.is_object()) return false;
    // One copy of the text (message.value() would make two: an aggregator's replies can be
    // megabytes each, and each copy is fresh memory the kernel zeroes).
    const auto content = message.find("content");
    reply.content = content != message.end() && content->is_string()
                        ? content->get_ref<const std::string&>()
                        : std::string();
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

// With a limit, each attempt's watch over the reply as it arrives: the read stops once the
// message text is known to be longer (its logprobs, which may follow, are never read).
std::function<BodyWatch()> content_watch(size_t max_bytes) {
  if (max_bytes == 0) return {};
  return [max_bytes] {
    auto scan = std::make_shared<ContentScan>(max_bytes);
    return BodyWatch([scan, max_bytes](std::string_view piece) -> std::optional<std::string> {
      if (scan->feed(piece)) return std::nullopt;
      return "the reply's text is longer than " + std::to_string(max_bytes) +
             " bytes (read no further than its first " + std::to_string(scan->scanned()) +
             " bytes)";
    });
  };
}

BackendReply finish(HttpResult& r, Completion reply, Clock::time_point start) {
  if (!r.ok()) return failed(r, start);
  reply.raw = std::move(r->body);
  reply.attempts = r->attempts;
  reply.latency_ms = ms_since(start);
  return reply;
}

class HttpBackend : public Backend {
 public:
  explicit HttpBackend(HttpBackendConfig c)
      : config_(std::move(c)),
        pool_({config_.base_url, config_.api_key, config_.max_concurrency, config_.timeout_ms,
               config_.retries, config_.backoff_ms, config_.ca_file,
               content_watch(config_.max_content_bytes)}) {
    if (config_.model.empty()) config_.model = config_.name;
  }

  const std::string& name() const override { return config_.name; }

  BackendReply complete(const nlohmann::json& request, Deadline deadline) override {
    const auto start = Clock::now();
    Completion reply;
    HttpResult r = pool_.post(
        "/chat/completions", upstream_payload(request, false), deadline,
        [&reply](const std::string& body) { return read_completion(body, reply); }, kWhat);
    return finish(r, std::move(reply), start);
  }

  bool complete_async(const nlohmann::json&, std::string_view fields, Deadline deadline,
                      std::function<void(BackendReply)> done, AbandonFlag abandon) override {
    const auto start = Clock::now();
    auto reply = std::make_shared<Completion>();
    pool_.post_async(
        "/chat/completions", upstream_body(config_.model, false, fields), deadline,
        [reply](const std::string& body) { return read_completion(body, *reply); }, kWhat,
        [reply, start, done = std::move(done)](HttpResult r) {
          done(finish(r, std::move(*reply), start));
        },
        std::move(abandon));
    return true;
  }

  // Relays the upstream's own event stream as it arrives: the first token is not held back.
  bool stream_async(const nlohmann::json& request, Deadline deadline, StreamSink sink,
                    std::function<void(BackendReply)> done, AbandonFlag abandon) override {
    const auto start = Clock::now();
    auto shared_sink = std::make_shared<StreamSink>(std::move(sink));
    auto reply = std::make_shared<Completion>();  // a plain JSON reply, read by `usable`
    pool_.post_stream_async(
        "/chat/completions", upstream_payload(request, true), deadline,
        [reply](const std::string& body) { return read_completion(body, *reply); }, kWhat,
        [shared_sink](std::string piece, std::function<void(bool)> resume) {
          (*shared_sink)(std::move(piece), std::move(resume));
        },
        [this, shared_sink, reply, start, usage = wants_usage(request),
         done = std::move(done)](HttpResult r) {
          if (!r.ok()) return done(failed(r, start));
          Completion c{.body = nullptr, .latency_ms = ms_since(start), .attempts = r->attempts};
          if (r->streamed) return done(std::move(c));
          // A plain JSON reply to a stream request: its events, in one piece.
          std::string events;
          for (const auto& e : completion_events(reply->body, name(), usage)) events += e;
          (*shared_sink)(std::move(events), [done, c](bool) mutable { done(std::move(c)); });
        },
        std::move(abandon));
    return true;
  }

 private:
  // The request as this backend must see it: its own model id, streaming or not (then with the
  // client's stream_options). Built without copying the (possibly long) request.
  std::string upstream_payload(const nlohmann::json& request, bool stream) const {
    std::string fields = fields_for_upstream(request);
    const auto options = request.find("stream_options");
    if (stream && options != request.end()) {
      if (!fields.empty()) fields.push_back(',');
      fields.append("\"stream_options\":").append(options->dump());
    }
    return upstream_body(config_.model, stream, fields);
  }

  HttpBackendConfig config_;
  HttpClientPool pool_;
};

}  // namespace

std::unique_ptr<Backend> make_http_backend(const HttpBackendConfig& config) {
  return std::make_unique<HttpBackend>(config);
}

}  // namespace smacs
