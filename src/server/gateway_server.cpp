#include "server/gateway_server.h"

#include "bank/bank_store.h"
#include "core/error.h"
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
    if (reject_unauthorized(req, res)) return;
    json data = json::array({{{"id", "smacs"}, {"object", "model"}, {"owned_by", "smacs"}}});
    for (const auto& name : gateway_.model_names())
      data.push_back({{"id", name}, {"object", "model"}, {"owned_by", "smacs-pool"}});
    send_json(res, {{"object", "list"}, {"data", data}});
  });
  server_.Post("/v1/feedback",
               [this](const httplib::Request& req, httplib::Response& res) { feedback(req, res); });
  server_.Post("/admin/reload", [this](const httplib::Request& req, httplib::Response& res) {
    if (reject_unauthorized(req, res)) return;
    try {
      send_json(res, reload_bank());
    } catch (const Error& e) {
      send_error(
          res, {500, "server_error", std::string("reload failed, the old bank stays: ") + e.what(),
                "", "reload_failed"});
    }
  });
  server_.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, {{"status", "ok"}});
  });
  server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.render(), "text/plain; version=0.0.4");
  });
}

json GatewayServer::reload_bank() {
  gateway_.reload(load_bank_from(config_.bank_files, options_of(gateway_.view()->bank)));
  const auto view = gateway_.view();
  return {{"status", "reloaded"},
          {"questions", view->bank.size()},
          {"models", view->bank.data.models.size()},
          {"cold_models", gateway_.cold_models()}};
}

void GatewayServer::feedback(const httplib::Request& req, httplib::Response& res) {
  if (reject_unauthorized(req, res)) return;
  const json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object())
    return send_error(
        res, {400, "invalid_request_error", "the request body must be a JSON object", "", ""});
  const auto id = body.find("id");
  if (id == body.end() || !id->is_string())
    return send_error(
        res, {400, "invalid_request_error", "'id' (the answer's id) is required", "id", ""});
  const auto score = body.find("score");
  if (score == body.end() || !score->is_number() || score->get<double>() < 0 ||
      score->get<double>() > 1)
    return send_error(
        res, {400, "invalid_request_error", "'score' must be a number within 0..1", "score", ""});
  const auto model = body.find("model");
  if (model != body.end() && !model->is_string())
    return send_error(res, {400, "invalid_request_error", "'model' must be a string", "model", ""});
  const std::string named = model != body.end() ? model->get<std::string>() : "";
  const auto scored = gateway_.feedback(id->get<std::string>(), named, score->get<float>());
  if (scored.error) return send_error(res, *scored.error);
  const auto view = gateway_.view();
  send_json(res, {{"status", "recorded"},
                  {"id", *id},
                  {"model", scored.model},
                  {"bank_questions", view->bank.size()}});
}

int GatewayServer::bind() { return bind_http_server(server_, config_.host, config_.port); }
void GatewayServer::run() { server_.listen_after_bind(); }

bool GatewayServer::reject_unauthorized(const httplib::Request& req, httplib::Response& res) const {
  if (authorized(req)) return false;
  send_error(res,
             {401, "authentication_error", "invalid or missing API key", "", "invalid_api_key"});
  return true;
}

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
  if (reject_unauthorized(req, res)) return;
  const ParsedChat parsed = parse_chat_request(req.body);
  if (!parsed.request) return send_error(res, parsed.error);
  const ChatRequest& chat = *parsed.request;
  const Deadline deadline = Clock::now() + std::chrono::milliseconds(config_.request_timeout_ms);
  const std::string id = "chatcmpl-smacs-" + std::to_string(next_id_++);

  std::string content;
  json usage, extra = json::object();
  if (chat.model == "smacs") {
    GatewayAnswer answer;
    try {
      answer = gateway_.answer(chat, deadline);
    } catch (const Error& e) {  // the embedder could not embed the question
      return send_error(res, {502, "server_error", e.what(), "", "retrieval_failed"});
    }
    if (!answer.ok)
      return send_error(res, {502, "server_error", answer.error, "", "backends_failed"});
    gateway_.remember(id, chat.retrieval_key, answer);
    content = std::move(answer.content);
    usage = std::move(answer.usage);
    extra["smacs"] = std::move(answer.trace);
  } else if (Backend* backend = gateway_.backend(chat.model)) {
    const BackendReply r = backend->complete(chat.body, deadline);
    metrics_.count_backend(backend->name(), r.ok, r.latency_ms / 1000.0);
    if (!r.ok)
      return send_error(res,
                        {502, "server_error", chat.model + ": " + r.error, "", "backend_failed"});
    if (!chat.stream) return send_json(res, r.body);
    content = r.content;
  } else {
    return send_error(res, {404, "invalid_request_error",
                            "the model '" + chat.model +
                                "' does not exist; use 'smacs' or a pool model (GET /v1/models)",
                            "model", "model_not_found"});
  }
  if (chat.stream) return send_sse(res, completion_sse(id, chat.model, content, extra));
  json body = completion_body(id, chat.model, content, usage);
  for (auto& [k, v] : extra.items()) body[k] = std::move(v);
  send_json(res, body);
}

}  // namespace smacs
