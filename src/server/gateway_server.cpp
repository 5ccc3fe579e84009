#include "server/gateway_server.h"

#include "server/http_util.h"

namespace smacs {

using nlohmann::json;

GatewayServer::GatewayServer(const ServerConfig& config, Gateway& gateway, Metrics& metrics)
    : config_(config), gateway_(gateway), metrics_(metrics) {
  configure_http_server(server_, config.threads, config.max_body_bytes);
  server_.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    const auto start = Clock::now();
    chat_completions(req, res);
    metrics_.count_request("/v1/chat/completions", res.status,
                           std::chrono::duration<double>(Clock::now() - start).count());
  });
  server_.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req)) return send_error(res, {401, "authentication_error", "invalid or missing API key", "", "invalid_api_key"});
    json data = json::array({{{"id", "smacs"}, {"object", "model"}, {"owned_by", "smacs"}}});
    for (const auto& name : gateway_.model_names()) data.push_back({{"id", name}, {"object", "model"}, {"owned_by", "smacs-pool"}});
    send_json(res, {{"object", "list"}, {"data", data}});
  });
  server_.Get("/health", [](const httplib::Request&, httplib::Response& res) { send_json(res, {{"status", "ok"}}); });
  server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.render(), "text/plain; version=0.0.4");
  });
}

int GatewayServer::bind() { return bind_http_server(server_, config_.host, config_.port); }
void GatewayServer::run() { server_.listen_after_bind(); }

bool GatewayServer::authorized(const httplib::Request& req) const {
  if (config_.api_keys.empty()) return true;
  const std::string auth = req.get_header_value("Authorization");
  const std::string prefix = "Bearer ";
  if (auth.rfind(prefix, 0) != 0) return false;
  const std::string key = auth.substr(prefix.size());
  return std::find(config_.api_keys.begin(), config_.api_keys.end(), key) != config_.api_keys.end();
}

// The one request path: authorise, validate, then SMACS or a pass-through, then JSON or SSE.
void GatewayServer::chat_completions(const httplib::Request& req, httplib::Response& res) {
  if (!authorized(req)) return send_error(res, {401, "authentication_error", "invalid or missing API key", "", "invalid_api_key"});
  const ParsedChat parsed = parse_chat_request(req.body);
  if (!parsed.request) return send_error(res, parsed.error);
  const ChatRequest& chat = *parsed.request;
  const Deadline deadline = Clock::now() + std::chrono::milliseconds(config_.request_timeout_ms);
  const std::string id = "chatcmpl-smacs-" + std::to_string(next_id_++);

  std::string content;
  json usage, extra = json::object();
  if (chat.model == "smacs") {
    GatewayAnswer answer = gateway_.answer(chat, deadline);
    if (!answer.ok)
      return send_error(res, {502, "server_error", answer.error, "", "backends_failed"});
    content = std::move(answer.content);
    usage = std::move(answer.usage);
    extra["smacs"] = std::move(answer.trace);
  } else if (Backend* backend = gateway_.backend(chat.model)) {
    const BackendReply r = backend->complete(chat.body, deadline);
    metrics_.count_backend(backend->name(), r.ok, r.latency_ms / 1000.0);
    if (!r.ok) return send_error(res, {502, "server_error", chat.model + ": " + r.error, "", "backend_failed"});
    if (!chat.stream) return send_json(res, r.body);
    content = r.content;
  } else {
    return send_error(res, {404, "invalid_request_error", "the model '" + chat.model + "' does not exist; use 'smacs' or a pool model (GET /v1/models)", "model", "model_not_found"});
  }
  if (chat.stream) return send_sse(res, completion_sse(id, chat.model, content, extra));
  json body = completion_body(id, chat.model, content, usage);
  for (auto& [k, v] : extra.items()) body[k] = std::move(v);
  send_json(res, body);
}

}  // namespace smacs
