#include "server/admin_routes.h"

#include "bank/bank_store.h"
#include "core/error.h"
#include "core/percent_decode.h"
#include "core/secrets.h"
#include "server/access.h"
#include "server/bank_follower.h"
#include "server/http_util.h"

namespace smacs {

using nlohmann::json;

namespace {

void list_models(const AdminContext& c, const HttpRequest& req, HttpResponse& res) {
  if (reject_unauthorized(c.config.api_keys, req, res)) return;
  const auto entry = [](const std::string& id, const char* owner) {
    return json{{"id", id}, {"object", "model"}, {"created", 0}, {"owned_by", owner}};
  };
  json data = json::array({entry("smacs", "smacs")});
  for (const auto& name : c.gateway.model_names()) data.push_back(entry(name, "smacs-pool"));
  if (req.path == "/v1/models") return send_json(res, {{"object", "list"}, {"data", data}});
  // SDKs percent-encode the '/' of ids like "org/model".
  const std::string id = percent_decode(req.path.substr(std::string("/v1/models/").size()));
  for (const auto& m : data)
    if (m["id"] == id) return send_json(res, m);
  send_error(res, {.status = 404,
                   .type = "invalid_request_error",
                   .message = "the model '" + id + "' does not exist",
                   .param = "model",
                   .code = "model_not_found"});
}

ApiError bad_feedback(std::string message, std::string param = "") {
  return {.status = 400,
          .type = "invalid_request_error",
          .message = std::move(message),
          .param = std::move(param)};
}

void feedback(const AdminContext& c, const HttpRequest& req, HttpResponse& res) {
  if (reject_unauthorized(c.config.api_keys, req, res)) return;
  const json body = parse_json_body(req.body);
  if (body.is_discarded() || !body.is_object())
    return send_error(res, bad_feedback("the request body must be a JSON object (nested at most " +
                                        std::to_string(kMaxJsonDepth) + " levels)"));
  const auto id = body.find("id");
  if (id == body.end() || !id->is_string())
    return send_error(res, bad_feedback("'id' (the answer's id) is required", "id"));
  const auto score = body.find("score");
  if (score == body.end() || !score->is_number() || score->get<double>() < 0 ||
      score->get<double>() > 1)
    return send_error(res, bad_feedback("'score' must be a number within 0..1", "score"));
  const auto model = body.find("model");
  if (model != body.end() && !model->is_string())
    return send_error(res, bad_feedback("'model' must be a string", "model"));
  const std::string named = model != body.end() ? model->get<std::string>() : "";
  const auto scored = c.gateway.feedback(id->get<std::string>(), named, score->get<float>(),
                                         *client_key(c.config.api_keys, req));
  if (!scored.ok()) return send_error(res, scored.error());
  send_json(res, {{"status", "recorded"},
                  {"id", *id},
                  {"model", *scored},
                  {"bank_questions", c.gateway.bank_questions()}});
}

// For load balancers: the bank holds questions and, for a shared bank, its database answered
// within the grace period. A 503 takes the replica out of rotation.
void ready(const AdminContext& c, HttpResponse& res) {
  json status = c.follower ? c.follower->status() : json::object();
  status["questions"] = c.gateway.bank_questions();
  status["cold_models"] = c.gateway.cold_models();
  if (status["questions"] == 0) {  // SMACS would pick without any prior: not ready for it
    status["status"] = "empty_bank";
    status["error"] = "the bank holds no questions (smacs prior import, or feedback)";
    return send_json(res, status, 503);
  }
  const bool ok = !c.follower || c.follower->ready();
  status["status"] = ok ? "ready" : "degraded";
  send_json(res, status, ok ? 200 : 503);
}

}  // namespace

json reload_bank(const ServerConfig& config, Gateway& gateway) {
  const BankOptions options = [&] {
    const auto view = gateway.view();
    std::shared_lock lock(view->mutex);
    return options_of(view->bank);
  }();
  gateway.reload([&] {
    BankOptions reading = options;
    reading.reuse_rows = gateway.take_spare_rows(kSpareRowsWait);  // the last replaced bank's
    return load_bank_from(config.bank_files, reading, config.feedback_journal);
  });
  const auto view = gateway.view();
  std::shared_lock lock(view->mutex);
  return {{"status", "reloaded"},
          {"questions", view->bank.size()},
          {"models", view->bank.data.models.size()},
          {"cold_models", gateway.cold_models()}};
}

std::string reload_failure(const std::exception& e) {
  return "reload failed, the old bank stays: " + scrub(reason(e));
}

void add_admin_routes(HttpServer& server, const AdminContext& context) {
  const AdminContext c = context;  // references: they outlive the server
  for (const char* path : {"/v1/models", "/v1/models/*"})
    server.route("GET", path,
                 [c](const HttpRequest& req, HttpResponse& res) { list_models(c, req, res); });
  server.route("POST", "/v1/feedback",
               [c](const HttpRequest& req, HttpResponse& res) { feedback(c, req, res); });
  server.route("POST", "/admin/reload", [c](const HttpRequest& req, HttpResponse& res) {
    if (reject_unauthorized(c.config.api_keys, req, res)) return;
    try {
      send_json(res, reload_bank(c.config, c.gateway));
    } catch (const std::exception& e) {  // a bank too big for memory too
      send_error(res, {.status = 500,
                       .type = "server_error",
                       .message = reload_failure(e),
                       .code = "reload_failed"});
    }
  });
  server.route(
      "GET", "/health",
      [](const HttpRequest&, HttpResponse& res) {
        send_json(res, {{"status", "ok"}});
      },
      true);
  server.route("GET", "/ready", [c](const HttpRequest&, HttpResponse& res) { ready(c, res); });
  server.route("GET", "/metrics", [c](const HttpRequest&, HttpResponse& res) {
    res.content_type = "text/plain; version=0.0.4";
    res.body = c.metrics.render();
  });
}

}  // namespace smacs
