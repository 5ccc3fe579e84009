#include "server/gateway_server.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>

#include "bank/bank_store.h"
#include "core/error.h"
#include "core/random_id.h"
#include "server/http_util.h"

namespace smacs {

using nlohmann::json;

namespace {

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// A client's own x-request-id is echoed when it is a plain token of sane length.
bool usable_request_id(const std::string& id) {
  return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == ':';
  });
}

// Metrics label for a path: the known routes, everything else one label (clients choose paths).
std::string endpoint_label(const std::string& path) {
  for (const char* known : {"/v1/chat/completions", "/v1/models", "/v1/feedback", "/admin/reload",
                            "/health", "/metrics"})
    if (path == known) return path;
  if (path.rfind("/v1/models/", 0) == 0) return "/v1/models/{id}";
  return "other";
}

HttpLimits limits_of(const ServerConfig& c) {
  HttpLimits l;
  l.max_body_bytes = c.max_body_bytes;
  l.max_connections = c.max_connections;
  l.idle_timeout_ms = c.idle_timeout_ms;
  l.header_timeout_ms = c.header_timeout_ms;
  l.body_timeout_ms = c.request_timeout_ms;
  l.workers = c.threads;
  l.cors_origins = c.cors_origins;
  l.drain_timeout_ms = c.request_timeout_ms;
  return l;
}

}  // namespace

GatewayServer::GatewayServer(const ServerConfig& config, Gateway& gateway, Metrics& metrics)
    : config_(config), gateway_(gateway), metrics_(metrics), server_(limits_of(config)) {
  if (config.api_keys.empty() && !is_loopback(config.host) && !config.allow_open_admin)
    throw Error("listen " + config.host +
                ": with no api_keys, /admin/reload and /v1/feedback would be open to the network; "
                "set api_keys, listen on 127.0.0.1, or set allow_open_admin: true");
  if (config.access_log == "stderr") {
    access_log_ = stderr;
  } else if (config.access_log != "none") {
    access_log_ = std::fopen(config.access_log.c_str(), "a");
    if (!access_log_) throw Error("access_log: cannot open '" + config.access_log + "'");
  }
  server_.on_response([this](const HttpRequest& req, const HttpResponse& res, double ms) {
    metrics_.count_request(endpoint_label(req.path), res.status, ms / 1000.0);
    log_access(req, res, ms);
  });
  server_.route("POST", "/v1/chat/completions",
                [this](const HttpRequest& req, HttpResponse& res) { chat_completions(req, res); });
  server_.route("GET", "/v1/models",
                [this](const HttpRequest& req, HttpResponse& res) { list_models(req, res); });
  server_.route("GET", "/v1/models/*",
                [this](const HttpRequest& req, HttpResponse& res) { list_models(req, res); });
  server_.route("POST", "/v1/feedback",
                [this](const HttpRequest& req, HttpResponse& res) { feedback(req, res); });
  server_.route("POST", "/admin/reload", [this](const HttpRequest& req, HttpResponse& res) {
    if (reject_unauthorized(req, res)) return;
    try {
      send_json(res, reload_bank());
    } catch (const Error& e) {
      send_error(res, {.status = 500,
                       .type = "server_error",
                       .message = std::string("reload failed, the old bank stays: ") + e.what(),
                       .code = "reload_failed"});
    }
  });
  server_.route(
      "GET", "/health",
      [](const HttpRequest&, HttpResponse& res) {
        send_json(res, {{"status", "ok"}});
      },
      true);
  server_.route("GET", "/metrics", [this](const HttpRequest&, HttpResponse& res) {
    res.content_type = "text/plain; version=0.0.4";
    res.body = metrics_.render();
  });
}

GatewayServer::~GatewayServer() {
  if (access_log_ && access_log_ != stderr) std::fclose(access_log_);
}

json GatewayServer::reload_bank() {
  gateway_.reload(load_bank_from(config_.bank_files, options_of(gateway_.view()->bank)));
  const auto view = gateway_.view();
  return {{"status", "reloaded"},
          {"questions", view->bank.size()},
          {"models", view->bank.data.models.size()},
          {"cold_models", gateway_.cold_models()}};
}

void GatewayServer::list_models(const HttpRequest& req, HttpResponse& res) {
  if (reject_unauthorized(req, res)) return;
  const auto entry = [](const std::string& id, const char* owner) {
    return json{{"id", id}, {"object", "model"}, {"created", 0}, {"owned_by", owner}};
  };
  json data = json::array({entry("smacs", "smacs")});
  for (const auto& name : gateway_.model_names()) data.push_back(entry(name, "smacs-pool"));
  if (req.path == "/v1/models") return send_json(res, {{"object", "list"}, {"data", data}});
  const std::string id = req.path.substr(std::string("/v1/models/").size());
  for (const auto& m : data)
    if (m["id"] == id) return send_json(res, m);
  send_error(res, {.status = 404,
                   .type = "invalid_request_error",
                   .message = "the model '" + id + "' does not exist",
                   .param = "model",
                   .code = "model_not_found"});
}

void GatewayServer::feedback(const HttpRequest& req, HttpResponse& res) {
  if (reject_unauthorized(req, res)) return;
  const json body = parse_json_body(req.body);
  if (body.is_discarded() || !body.is_object())
    return send_error(res, {.status = 400,
                            .type = "invalid_request_error",
                            .message = "the request body must be a JSON object (nested at most " +
                                       std::to_string(kMaxJsonDepth) + " levels)"});
  const auto id = body.find("id");
  if (id == body.end() || !id->is_string())
    return send_error(res, {.status = 400,
                            .type = "invalid_request_error",
                            .message = "'id' (the answer's id) is required",
                            .param = "id"});
  const auto score = body.find("score");
  if (score == body.end() || !score->is_number() || score->get<double>() < 0 ||
      score->get<double>() > 1)
    return send_error(res, {.status = 400,
                            .type = "invalid_request_error",
                            .message = "'score' must be a number within 0..1",
                            .param = "score"});
  const auto model = body.find("model");
  if (model != body.end() && !model->is_string())
    return send_error(res, {.status = 400,
                            .type = "invalid_request_error",
                            .message = "'model' must be a string",
                            .param = "model"});
  const std::string named = model != body.end() ? model->get<std::string>() : "";
  const auto scored =
      gateway_.feedback(id->get<std::string>(), named, score->get<float>(), *client_key(req));
  if (!scored.ok()) return send_error(res, scored.error());
  const auto view = gateway_.view();
  send_json(res, {{"status", "recorded"},
                  {"id", *id},
                  {"model", *scored},
                  {"bank_questions", view->bank.size()}});
}

int GatewayServer::bind() { return server_.bind(config_.host, config_.port); }
void GatewayServer::run() { server_.run(); }

bool GatewayServer::reject_unauthorized(const HttpRequest& req, HttpResponse& res) const {
  if (client_key(req)) return false;
  send_error(res, {.status = 401,
                   .type = "authentication_error",
                   .message = "invalid or missing API key",
                   .code = "invalid_api_key"});
  return true;
}

std::optional<std::string> GatewayServer::client_key(const HttpRequest& req) const {
  if (config_.api_keys.empty()) return std::string();
  const std::string auth = req.header("Authorization");
  const auto space = auth.find(' ');
  if (space == std::string::npos) return std::nullopt;
  std::string scheme = auth.substr(0, space);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), ::tolower);
  if (scheme != "bearer") return std::nullopt;  // RFC 7235: the scheme is case-insensitive
  const auto key_start = auth.find_first_not_of(' ', space);
  if (key_start == std::string::npos) return std::nullopt;  // "Bearer " and nothing after
  const std::string key = auth.substr(key_start);
  if (std::find(config_.api_keys.begin(), config_.api_keys.end(), key) == config_.api_keys.end())
    return std::nullopt;
  return key;
}

void GatewayServer::log_access(const HttpRequest& req, const HttpResponse& res, double ms) {
  if (!access_log_) return;
  json line = {{"time", static_cast<int64_t>(std::time(nullptr))},
               {"remote", req.remote},
               {"method", req.method},
               {"path", req.path.substr(0, 200)},
               {"status", res.status},
               {"latency_ms", ms}};
  for (const auto& [k, v] : res.notes) line[k] = v;
  const std::string text = line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  std::fwrite(text.data(), 1, text.size(), access_log_);
  std::fflush(access_log_);
}

// The one request path: authorise, validate, then SMACS or a pass-through, then JSON or SSE.
void GatewayServer::chat_completions(const HttpRequest& req, HttpResponse& res) {
  const std::string id = "chatcmpl-" + random_id_128();
  const std::string client_id = req.header("x-request-id");
  res.set_header("x-request-id", usable_request_id(client_id) ? client_id : id);
  res.notes.emplace_back("id", id);
  if (reject_unauthorized(req, res)) return;
  auto parsed = parse_chat_request(req.body);
  if (!parsed.ok()) return send_error(res, parsed.error());
  ChatRequest& chat = *parsed;
  if (const std::string budget = req.header("x-smacs-max-cost-usd"); !budget.empty()) {
    char* end = nullptr;
    const double usd = std::strtod(budget.c_str(), &end);
    if (end != budget.c_str() + budget.size() || !(usd >= 0) || !std::isfinite(usd))
      return send_error(res, {.status = 400,
                              .type = "invalid_request_error",
                              .message = "the header x-smacs-max-cost-usd must be a number >= 0"});
    chat.max_cost_usd = std::min(usd, chat.max_cost_usd.value_or(usd));
  }
  res.notes.emplace_back("model", chat.model);
  const Deadline deadline = Clock::now() + std::chrono::milliseconds(config_.request_timeout_ms);
  if (chat.model == "smacs") return answer_with_smacs(req, std::move(chat), id, deadline, res);
  Backend* backend = gateway_.backend(chat.model);
  if (!backend)
    return send_error(res,
                      {.status = 404,
                       .type = "invalid_request_error",
                       .message = "the model '" + chat.model +
                                  "' does not exist; use 'smacs' or a pool model (GET /v1/models)",
                       .param = "model",
                       .code = "model_not_found"});
  if (chat.stream) {  // relayed as the backend sends it
    res.content_type = "text/event-stream";
    res.set_header("Cache-Control", "no-cache");
    auto body = std::make_shared<nlohmann::json>(chat.body);
    res.stream = [this, backend, body, deadline](const ChunkWriter& write, HttpResponse& self) {
      bool wrote = false;
      const BackendReply r = backend->stream(*body, deadline, [&](std::string_view bytes) {
        wrote = true;
        return write(bytes);
      });
      metrics_.count_backend(backend->name(), r.ok(), latency_ms(r) / 1000.0);
      if (r.ok()) return;
      const ApiError e = backend_error(backend->name(), r.error());
      if (!wrote) return send_error(self, e);
      write("data: " + error_body(e).dump() + "\n\ndata: [DONE]\n\n");  // cut mid-stream
    };
    return;
  }
  const BackendReply r = backend->complete(chat.body, deadline);
  metrics_.count_backend(backend->name(), r.ok(), latency_ms(r) / 1000.0);
  if (!r.ok()) return send_error(res, backend_error(backend->name(), r.error()));
  send_json(res, r->body);
}

// A pass-through failure as clients should see it: the backend's own refusal (4xx) as it
// came, a timeout as 504, anything a retry could fix as 502.
ApiError GatewayServer::backend_error(const std::string& name, const BackendError& e) {
  if (e.refused())
    return {e.status, "invalid_request_error", name + " refused the request: " + e.message, "",
            "backend_refused"};
  if (e.timed_out)
    return {.status = 504,
            .type = "server_error",
            .message = name + ": " + e.message,
            .code = "backend_timeout"};
  return {.status = 502,
          .type = "server_error",
          .message = name + ": " + e.message,
          .code = "backend_failed"};
}

// Plans on this worker, then returns: the backends answer without a thread waiting, and the
// last reply's thread sends the answer.
void GatewayServer::answer_with_smacs(const HttpRequest& req, ChatRequest chat,
                                      const std::string& id, Deadline deadline, HttpResponse& res) {
  auto request = std::make_shared<const ChatRequest>(std::move(chat));
  HttpResponse::Reply reply = res.answer_later();
  auto respond = [this, request, id, owner = *client_key(req), reply,
                  head = res](Result<GatewayAnswer, ApiError> answered) mutable {
    HttpResponse out = std::move(head);
    if (answered.ok()) {
      gateway_.remember(id, request->retrieval_key, *answered, owner);
      smacs_response(*request, id, *answered, out);
    } else {
      send_error(out, answered.error());
    }
    reply(std::move(out));
  };
  try {
    gateway_.answer_async(request, deadline, respond);
  } catch (const Error& e) {  // the embedder could not embed the question
    respond(failure(ApiError{
        .status = 502, .type = "server_error", .message = e.what(), .code = "retrieval_failed"}));
  }
}

void GatewayServer::smacs_response(const ChatRequest& chat, const std::string& id,
                                   GatewayAnswer& answer, HttpResponse& res) {
  res.notes.emplace_back("chosen", answer.chosen);
  res.notes.emplace_back("selected", answer.trace["selected"].dump());
  // The chosen model's reply as it came (message with any tool calls, finish_reason, logprobs,
  // system_fingerprint), under this answer's id, with the usage of every backend asked.
  json body = answer.reply.is_object() ? std::move(answer.reply) : json::object();
  json choice = body.contains("choices") && body["choices"].is_array() && !body["choices"].empty()
                    ? body["choices"][0]
                    : json{{"message", {{"role", "assistant"}, {"content", answer.content}}}};
  choice["index"] = 0;
  if (!choice.contains("finish_reason") || choice["finish_reason"].is_null())
    choice["finish_reason"] = "stop";
  if (!choice.contains("logprobs")) choice["logprobs"] = nullptr;
  if (chat.stream)
    return send_sse(
        res, completion_sse(id, "smacs", choice["message"], choice["finish_reason"],
                            {{"smacs", answer.trace}}, chat.include_usage ? answer.usage : json()));
  body["id"] = id;
  body["object"] = "chat.completion";
  body["created"] = static_cast<int64_t>(std::time(nullptr));
  body["model"] = "smacs";
  body["choices"] = json::array({choice});
  body["usage"] = answer.usage;
  body["smacs"] = std::move(answer.trace);
  send_json(res, body);
}

}  // namespace smacs
