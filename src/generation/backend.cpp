#include "generation/backend.h"

#include "api/openai_api.h"
#include "core/error.h"

namespace smacs {

std::optional<int64_t> usage_tokens(const nlohmann::json& body, const char* key) {
  const auto u = body.find("usage");
  if (u == body.end() || !u->is_object()) return std::nullopt;
  const auto v = u->find(key);
  if (v == u->end() || !v->is_number_integer() || v->get<int64_t>() < 0) return std::nullopt;
  return v->get<int64_t>();
}

std::optional<double> Price::cost_of(const nlohmann::json& reply_body) const {
  const auto in = usage_tokens(reply_body, "prompt_tokens");
  const auto out = usage_tokens(reply_body, "completion_tokens");
  if (!in || !out) return std::nullopt;
  return cost(static_cast<double>(*in), static_cast<double>(*out));
}

std::optional<double> Price::cost(double prompt_tokens, double completion_tokens) const {
  if (!known()) return std::nullopt;
  return (prompt_tokens * *prompt + completion_tokens * *completion) / 1e6;
}

bool wants_usage(const nlohmann::json& request) {
  const auto options = request.find("stream_options");
  return options != request.end() && options->is_object() && options->value("include_usage", false);
}

std::vector<std::string> completion_events(const nlohmann::json& body, const std::string& model,
                                           bool usage) {
  const nlohmann::json& choice = body["choices"][0];
  return completion_sse(body.value("id", std::string("chatcmpl-stream")),
                        body.value("model", model), choice["message"],
                        choice.value("finish_reason", nlohmann::json("stop")), nullptr,
                        usage ? body.value("usage", nlohmann::json()) : nlohmann::json());
}

BackendReply Backend::stream(const nlohmann::json& request, Deadline deadline,
                             const std::function<bool(std::string_view)>& on_bytes) {
  BackendReply r = complete(request, deadline);
  if (!r.ok()) return r;
  for (const auto& event : completion_events(r->body, name(), wants_usage(request)))
    if (!on_bytes(event)) break;
  r->body = nullptr;
  return r;
}

std::unique_ptr<Backend> make_backend(const BackendConfig& config) {
  if (config.type == BackendConfig::Type::kLlama) return make_llama_backend(config.llama);
  return make_http_backend(config.http);
}

#ifndef SMACS_WITH_LLAMA
std::unique_ptr<Backend> make_llama_backend(const LlamaBackendConfig& config) {
  throw Error("model '" + config.name +
              "': this smacs was built without llama.cpp (-DSMACS_WITH_LLAMA=OFF)");
}
#endif

bool Backend::stream_async(const nlohmann::json&, Deadline, StreamSink,
                           std::function<void(BackendReply)>, AbandonFlag) {
  return false;
}

bool Backend::complete_async(const nlohmann::json&, std::string_view, Deadline,
                             std::function<void(BackendReply)>, AbandonFlag) {
  return false;
}

}  // namespace smacs
