// An OpenAI-compatible HTTP endpoint as a Backend: chat completions through HttpClientPool.
#include "api/openai_api.h"
#include "core/error.h"
#include "core/http_client.h"
#include "generation/backend.h"

namespace smacs {

namespace {

class HttpBackend : public Backend {
 public:
  explicit HttpBackend(HttpBackendConfig c)
      : config_(std::move(c)),
        pool_({config_.base_url, config_.api_key, config_.max_concurrency, config_.timeout_ms,
               config_.retries, config_.backoff_ms}) {
    if (config_.model.empty()) config_.model = config_.name;
  }

  const std::string& name() const override { return config_.name; }

  BackendReply complete(const nlohmann::json& request, Deadline deadline) override {
    const auto start = Clock::now();
    BackendReply reply;
    auto parsed = [&reply](const std::string& body) {
      try {
        reply.body = parse_json_body(body);
        const auto& content = reply.body.at("choices").at(0).at("message").at("content");
        reply.content = content.is_string() ? content.get<std::string>() : "";
        return true;
      } catch (const std::exception&) {
        return false;
      }
    };
    const HttpResult r = pool_.post("/chat/completions", upstream_payload(request), deadline,
                                    parsed, "an OpenAI chat completion");
    reply.ok = r.ok, reply.status = r.status, reply.error = r.error, reply.attempts = r.attempts;
    if (!r.ok) reply.body = nullptr, reply.content.clear();
    reply.latency_ms = ms_since(start);
    return reply;
  }

 private:
  // The request as this backend must see it: its own model id, no streaming. Built without
  // copying the (possibly long) request: serialise the other fields once and splice.
  std::string upstream_payload(const nlohmann::json& request) const {
    std::string out = "{\"model\":" + nlohmann::json(config_.model).dump() + ",\"stream\":false";
    for (const auto& [key, value] : request.items()) {
      if (key == "model" || key == "stream") continue;
      out += ',';
      out += nlohmann::json(key).dump();
      out += ':';
      out += value.dump();
    }
    out += '}';
    return out;
  }

  HttpBackendConfig config_;
  HttpClientPool pool_;
};

}  // namespace

std::unique_ptr<Backend> make_http_backend(const HttpBackendConfig& config) {
  return std::make_unique<HttpBackend>(config);
}

}  // namespace smacs
