#include "server/replay_server.h"

#include <algorithm>
#include <thread>

#include "server/http_util.h"

namespace smacs {

using nlohmann::json;

ReplayServer::ReplayServer(Dataset data, ReplayOptions options)
    : data_(std::move(data)),
      options_(options),
      server_(HttpLimits{.max_body_bytes = 16 << 20, .workers = options.threads}),
      rng_{options.seed} {
  for (size_t i = 0; i < data_.records.size(); ++i)
    by_prompt_[data_.records[i].question].push_back(i);
  // Without an added latency a reply is a lookup: answered on the event thread, no hop.
  server_.route(
      "POST", "/v1/chat/completions",
      [this](const HttpRequest& req, HttpResponse& res) { chat_completions(req, res); },
      options_.latency_ms == 0);
  server_.route("GET", "/v1/models", [this](const HttpRequest&, HttpResponse& res) {
    json list = json::array();
    for (const auto& m : data_.models)
      list.push_back({{"id", m}, {"object", "model"}, {"owned_by", "replay"}});
    send_json(res, {{"object", "list"}, {"data", list}});
  });
  server_.route(
      "GET", "/health",
      [](const HttpRequest&, HttpResponse& res) {
        send_json(res, {{"status", "ok"}});
      },
      true);
}

int ReplayServer::bind() { return server_.bind(options_.host, options_.port); }

void ReplayServer::chat_completions(const HttpRequest& req, HttpResponse& res) {
  const auto parsed = parse_chat_request(req.body);
  if (!parsed.ok()) return send_error(res, parsed.error());
  if (options_.latency_ms > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(options_.latency_ms));
  if (options_.fail_rate > 0) {
    std::lock_guard lock(rng_mutex_);
    if (rng_.uniform() < options_.fail_rate)
      return send_error(res, {.status = 500,
                              .type = "server_error",
                              .message = "injected failure (--fail-rate)",
                              .code = "injected"});
  }
  const ChatRequest& chat = *parsed;
  const int col = data_.model_index(chat.model);
  if (col < 0)
    return send_error(res, {.status = 404,
                            .type = "invalid_request_error",
                            .message = "the model '" + chat.model + "' is not in the recorded data",
                            .param = "model",
                            .code = "model_not_found"});
  const auto it = by_prompt_.find(chat.retrieval_key);
  if (it == by_prompt_.end())
    return send_error(res, {.status = 404,
                            .type = "invalid_request_error",
                            .message = "no recorded question matches the last user message",
                            .param = "messages",
                            .code = "unknown_prompt"});
  const auto row = std::find_if(it->second.begin(), it->second.end(), [&](size_t i) {
    return !is_missing(data_.records[i].scores[col]);
  });
  if (row == it->second.end())
    return send_error(res,
                      {.status = 404,
                       .type = "invalid_request_error",
                       .message = "no recorded result of '" + chat.model + "' for this question",
                       .param = "model",
                       .code = "missing_result"});
  const Record& r = data_.records[*row];
  const std::string content = r.responses.empty() ? "" : r.responses[col];
  json body = completion_body("replay-" + r.id, chat.model, content, nullptr);
  body["replay"] = {{"id", r.id}, {"score", r.scores[col]}};
  if (chat.stream)
    return send_sse(
        res, completion_sse("replay-" + r.id, chat.model, body["choices"][0]["message"], "stop",
                            nullptr, chat.include_usage ? body["usage"] : nlohmann::json()));
  send_json(res, body);
}

}  // namespace smacs
