#include "server/gateway_server.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>

#include "api/messages_api.h"
#include "bank/bank_store.h"
#include "core/error.h"
#include "core/hop.h"
#include "core/random_id.h"
#include "core/secrets.h"
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
  for (const char* known :
       {"/v1/chat/completions", "/v1/responses", "/v1/messages", "/v1/messages/count_tokens",
        "/v1/models", "/v1/feedback", "/admin/reload", "/health", "/ready", "/metrics"})
    if (path == known) return path;
  if (path.rfind("/v1/models/", 0) == 0) return "/v1/models/{id}";
  if (path.rfind("/v1/responses/", 0) == 0) return "/v1/responses/{id}";
  return "other";
}

std::string percent_decoded(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
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
    : config_(config),
      gateway_(gateway),
      metrics_(metrics),
      server_(limits_of(config)),
      responses_(config.remember_bytes) {
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
  // The key is checked as soon as the header is in: an unauthenticated client cannot make the
  // server buffer its body.
  server_.on_header([this](const HttpRequest& head) -> std::optional<HttpResponse> {
    const std::string endpoint = endpoint_label(head.path);
    if (hop_is_loop(head.header(kHopHeader))) {  // a pool entry points back at this gateway
      HttpResponse loop;
      send_error(loop, {.status = 508,
                        .type = "invalid_request_error",
                        .message = "loop detected: this request came from this gateway itself "
                                   "(a pool entry's base_url points back at it)",
                        .code = "loop_detected"});
      return loop;
    }
    if (config_.api_keys.empty() || head.method == "OPTIONS" || endpoint == "/health" ||
        endpoint == "/ready" || endpoint == "/metrics" || endpoint == "other" || client_key(head))
      return std::nullopt;  // an unknown path is a 404 either way
    HttpResponse denied;
    reject_unauthorized(head, denied);
    return denied;
  });
  // On the event thread: a pass-through costs a parse and a call that needs no thread; SMACS's
  // planning (embedding, retrieval) goes on to a worker.
  server_.route(
      "POST", "/v1/chat/completions",
      [this](const HttpRequest& req, HttpResponse& res) { chat_completions(req, res); }, true);
  server_.route(
      "POST", "/v1/responses",
      [this](const HttpRequest& req, HttpResponse& res) { responses(req, res); }, true);
  for (const char* method : {"GET", "DELETE"})
    server_.route(method, "/v1/responses/*",
                  [this](const HttpRequest& req, HttpResponse& res) { stored_response(req, res); });
  server_.route(
      "POST", "/v1/messages",
      [this](const HttpRequest& req, HttpResponse& res) { messages(req, res); }, true);
  server_.route("POST", "/v1/messages/count_tokens",
                [this](const HttpRequest& req, HttpResponse& res) { count_tokens(req, res); });
  // Anthropic's clients read errors in their own shape, those the HTTP layer makes included.
  server_.before_send([](const HttpRequest& req, HttpResponse& res) {
    if (res.status >= 400 && req.path.rfind("/v1/messages", 0) == 0)
      res.body = anthropic_error_text(res.status, res.body);
  });
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
                       .message = "reload failed, the old bank stays: " + scrub(e.what()),
                       .code = "reload_failed"});
    }
  });
  server_.route(
      "GET", "/health",
      [](const HttpRequest&, HttpResponse& res) {
        send_json(res, {{"status", "ok"}});
      },
      true);
  // For load balancers: the bank is loaded (it is, once serving) and, for a shared bank, its
  // database answered within the grace period. A 503 takes the replica out of rotation.
  server_.route("GET", "/ready", [this](const HttpRequest&, HttpResponse& res) {
    json status = follower_ ? follower_->status() : json::object();
    status["questions"] = gateway_.bank_questions();
    status["cold_models"] = gateway_.cold_models();
    if (status["questions"] == 0) {  // SMACS would pick without any prior: not ready for it
      status["status"] = "empty_bank";
      status["error"] = "the bank holds no questions (smacs prior import, or feedback)";
      send_json(res, status);
      res.status = 503;
      return;
    }
    if (!follower_) {
      status["status"] = "ready";
      return send_json(res, status);
    }
    const bool ready = follower_->ready();
    status["status"] = ready ? "ready" : "degraded";
    send_json(res, status);
    if (!ready) res.status = 503;
  });
  server_.route("GET", "/metrics", [this](const HttpRequest&, HttpResponse& res) {
    res.content_type = "text/plain; version=0.0.4";
    res.body = metrics_.render();
  });
}

GatewayServer::~GatewayServer() {
  if (access_log_ && access_log_ != stderr) std::fclose(access_log_);
}

json GatewayServer::reload_bank() {
  const BankOptions options = [&] {
    const auto view = gateway_.view();
    std::shared_lock lock(view->mutex);
    return options_of(view->bank);
  }();
  gateway_.reload(
      [&] { return load_bank_from(config_.bank_files, options, config_.feedback_journal); });
  const auto view = gateway_.view();
  std::shared_lock lock(view->mutex);
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
  // SDKs percent-encode the '/' of ids like "org/model".
  const std::string id = percent_decoded(req.path.substr(std::string("/v1/models/").size()));
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
  send_json(res, {{"status", "recorded"},
                  {"id", *id},
                  {"model", *scored},
                  {"bank_questions", gateway_.bank_questions()}});
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
  if (auth.empty()) {  // Anthropic's clients send the key on its own
    const std::string key = req.header("x-api-key");
    if (std::find(config_.api_keys.begin(), config_.api_keys.end(), key) == config_.api_keys.end())
      return std::nullopt;
    return key;
  }
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
  if (const std::string own = req.header("x-request-id"); usable_request_id(own))
    line["request_id"] = own;  // the client's own, to find its requests
  const std::string text = line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  std::fwrite(text.data(), 1, text.size(), access_log_);
  std::fflush(access_log_);
}

std::string GatewayServer::new_id(const char* prefix) const {
  std::string id = prefix;
  if (!config_.replica.empty()) id.append(config_.replica).append("-");
  return id.append(random_id_128());
}

std::shared_ptr<FrontDoor> GatewayServer::open_door(FrontDoor::Api api, const char* id_prefix,
                                                    const HttpRequest& req,
                                                    HttpResponse& res) const {
  auto door = std::make_shared<FrontDoor>();
  door->api = api;
  door->id = new_id(id_prefix);
  const std::string client_id = req.header("x-request-id");
  res.set_header("x-request-id", usable_request_id(client_id) ? client_id : door->id);
  res.notes.emplace_back("id", door->id);
  if (const auto key = client_key(req)) door->owner = *key;
  return door;
}

// The chat-completions door: its request is the internal request as it comes.
void GatewayServer::chat_completions(const HttpRequest& req, HttpResponse& res) {
  auto door = open_door(FrontDoor::Api::kChat, "chatcmpl-", req, res);
  if (reject_unauthorized(req, res)) return;
  auto parsed = parse_chat_request(req.body);
  if (!parsed.ok()) return send_error(res, parsed.error());
  serve(req, res, std::move(*parsed), std::move(door));
}

// The one request path, whichever door the request came by: the budget, then SMACS or a
// pass-through, then the door's JSON or events.
void GatewayServer::serve(const HttpRequest& req, HttpResponse& res, ChatRequest chat,
                          std::shared_ptr<const FrontDoor> door) {
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
  if (chat.model == "smacs") {
    auto request = std::make_shared<const ChatRequest>(std::move(chat));
    return res.finish_on_worker(
        [this, request, door, deadline](const HttpRequest&, HttpResponse& s) {
          answer_with_smacs(request, door, deadline, s);
        });
  }
  const int backend = gateway_.backend_index(chat.model);
  if (backend < 0)
    return send_error(res,
                      {.status = 404,
                       .type = "invalid_request_error",
                       .message = "the model '" + chat.model +
                                  "' does not exist; use 'smacs' or a pool model (GET /v1/models)",
                       .param = "model",
                       .code = "model_not_found"});
  auto request = std::make_shared<const ChatRequest>(std::move(chat));
  if (door->api != FrontDoor::Api::kChat && request->stream)
    return pass_through_translated(static_cast<size_t>(backend), request, door, deadline, res);
  pass_through(static_cast<size_t>(backend), request, door, deadline, res);
}

// Plans on this worker, then returns: the backends answer without a thread waiting, and the
// last reply's thread sends the answer. A stream starts with keep-alive comments while the
// backends think, so proxies with idle timeouts keep the connection.
void GatewayServer::answer_with_smacs(std::shared_ptr<const ChatRequest> request,
                                      std::shared_ptr<const FrontDoor> door, Deadline deadline,
                                      HttpResponse& res) {
  std::shared_ptr<StreamReply> stream;
  HttpResponse::Reply reply;
  HttpResponse head = res;
  if (request->stream) {
    res.content_type = "text/event-stream";
    res.set_header("Cache-Control", "no-cache");
    stream = res.stream_later();
    if (config_.sse_keepalive_ms > 0)
      stream->keep_alive(config_.sse_keepalive_ms, ": keep-alive\n\n");
  } else {
    reply = res.answer_later();
  }
  auto respond = [this, request, door, reply, stream,
                  head](Result<GatewayAnswer, ApiError> answered) mutable {
    HttpResponse out = std::move(head);
    auto fail = [&](const ApiError& e) {
      if (stream) {
        const auto translator = door->translator(nullptr, true);
        return fail_stream(*stream, std::move(out), e, translator.get());
      }
      send_error(out, e);
      reply(std::move(out));
    };
    try {
      if (!answered.ok()) return fail(answered.error());
      gateway_.remember(door->id, request->retrieval_key, *answered, door->owner);
      smacs_response(*request, *door, *answered, out);
    } catch (const std::exception& e) {  // whatever happens, the client gets an answer
      return fail({.status = 500,
                   .type = "server_error",
                   .message = std::string("internal error: ") + e.what(),
                   .code = "internal_error"});
    }
    if (!stream) return reply(std::move(out));
    stream->write(std::move(out.body));
    stream->end(true);
  };
  try {
    gateway_.answer_async(request, deadline, respond, res.client_gone_flag());
  } catch (const Error& e) {  // the embedder could not embed the question
    respond(failure(ApiError{
        .status = 502, .type = "server_error", .message = e.what(), .code = "retrieval_failed"}));
  }
}

void GatewayServer::smacs_response(const ChatRequest& chat, const FrontDoor& door,
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
  if (door.api != FrontDoor::Api::kChat) {  // re-spoken: the trace rides on the door's object
    body["choices"] = json::array({choice});
    body["usage"] = answer.usage;
    const auto translator = door.translator({{"smacs", std::move(answer.trace)}}, chat.stream);
    const std::string events = feed_completion(*translator, std::move(body));
    if (chat.stream) {
      send_sse(res, {events});
      return finished(door, translator->object());
    }
    send_json(res, translator->object());
    return finished(door, translator->object(), &res.body);
  }
  if (chat.stream)
    return send_sse(
        res, completion_sse(door.id, "smacs", choice["message"], choice["finish_reason"],
                            {{"smacs", answer.trace}}, chat.include_usage ? answer.usage : json()));
  body["id"] = door.id;
  body["object"] = "chat.completion";
  body["created"] = static_cast<int64_t>(std::time(nullptr));
  body["model"] = "smacs";
  body["choices"] = json::array({choice});
  body["usage"] = answer.usage;
  body["smacs"] = std::move(answer.trace);
  send_json(res, body);
}

}  // namespace smacs
