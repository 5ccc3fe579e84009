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
      access_log_(config.access_log),
      responses_(config.remember_bytes) {
  if (config.api_keys.empty() && !is_loopback(config.host) && !config.allow_open_admin)
    throw Error("listen " + config.host +
                ": with no api_keys, /admin/reload and /v1/feedback would be open to the network; "
                "set api_keys, listen on 127.0.0.1, or set allow_open_admin: true");
  server_.on_response([this](const HttpRequest& req, const HttpResponse& res, double ms) {
    metrics_.count_request(endpoint_label(req.path), res.status, ms / 1000.0);
    access_log_.write(req, res, ms);
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
        endpoint == "/ready" || endpoint == "/metrics" || endpoint == "other" ||
        client_key(config_.api_keys, head))
      return std::nullopt;  // an unknown path is a 404 either way
    HttpResponse denied;
    reject_unauthorized(config_.api_keys, head, denied);
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
    server_.route(method, "/v1/responses/*", [this](const HttpRequest& req, HttpResponse& res) {
      stored_response(responses_, config_.api_keys, req, res);
    });
  server_.route(
      "POST", "/v1/messages",
      [this](const HttpRequest& req, HttpResponse& res) { messages(req, res); }, true);
  server_.route("POST", "/v1/messages/count_tokens",
                [this](const HttpRequest& req, HttpResponse& res) {
                  count_tokens(config_.api_keys, req, res);
                });
  // Anthropic's clients read errors in their own shape, those the HTTP layer makes included.
  server_.before_send([](const HttpRequest& req, HttpResponse& res) {
    if (res.status >= 400 && req.path.rfind("/v1/messages", 0) == 0)
      res.body = anthropic_error_text(res.status, res.body);
  });
  add_admin_routes(
      server_,
      {.config = config_, .gateway = gateway_, .metrics = metrics_, .follower = follower_});
}

int GatewayServer::bind() { return server_.bind(config_.host, config_.port); }
void GatewayServer::run() { server_.run(); }

std::shared_ptr<FrontDoor> GatewayServer::open_door(FrontDoor::Api api, const char* id_prefix,
                                                    const HttpRequest& req,
                                                    HttpResponse& res) const {
  auto door = std::make_shared<FrontDoor>();
  door->api = api;
  door->id = new_answer_id(id_prefix, config_.replica);
  const std::string client_id = req.header("x-request-id");
  res.set_header("x-request-id", usable_request_id(client_id) ? client_id : door->id);
  res.notes.emplace_back("id", door->id);
  if (const auto key = client_key(config_.api_keys, req)) door->owner = *key;
  return door;
}

// The chat-completions door: its request is the internal request as it comes.
void GatewayServer::chat_completions(const HttpRequest& req, HttpResponse& res) {
  auto door = open_door(FrontDoor::Api::kChat, "chatcmpl-", req, res);
  if (reject_unauthorized(config_.api_keys, req, res)) return;
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
      return store_response(responses_, door, translator->object());
    }
    send_json(res, translator->object());
    return store_response(responses_, door, translator->object(), &res.body);
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
