// `smacs serve`: the OpenAI-compatible HTTP front of the Gateway.
//
//   POST /v1/chat/completions  model "smacs" runs SMACS; a pool model's name passes through
//   POST /v1/responses         the same through OpenAI's Responses API (api/responses_api.h);
//                              GET, DELETE /v1/responses/{id}: a stored response
//   POST /v1/messages          the same through Anthropic's Messages API (api/messages_api.h);
//                              POST /v1/messages/count_tokens: an estimate
//   GET  /v1/models            "smacs" and the pool;  GET /v1/models/{id}: one of them
//   GET  /health               {"status":"ok"}: the process is up
//   GET  /ready                200 {"status":"ready"}, or 503 "degraded" while a shared bank's
//                              database has been unreachable past its grace period
//   GET  /metrics              Prometheus text
//   POST /v1/feedback          {"id": answer id, "score": 0..1, "model"?: default the chosen one}
//   POST /admin/reload         re-reads the bank (as SIGHUP does)
//
// Everything but /health and /metrics is behind the API key when keys are configured (as
// `Authorization: Bearer KEY`, or `x-api-key: KEY` as Anthropic's clients send it). Every
// reply carries an `x-request-id` (the client's own, else the answer's random id). A SMACS
// request may cap its spending: body field {"smacs": {"max_cost_usd": x}} or header
// `x-smacs-max-cost-usd: x` (the smaller wins).
#pragma once
#include <memory>

#include "server/access.h"
#include "server/admin_routes.h"
#include "server/bank_follower.h"
#include "server/config.h"
#include "server/front_door.h"
#include "server/gateway.h"
#include "server/http_server.h"
#include "server/response_store.h"

namespace smacs {

class GatewayServer {
 public:
  // Throws smacs::Error for a config that would leave the admin endpoints open to the network.
  GatewayServer(const ServerConfig& config, Gateway& gateway, Metrics& metrics);
  int bind();                      // returns the port (config port 0 = any free port)
  void run();                      // serves until stop()
  void stop() { server_.stop(); }  // graceful: finishes the requests in flight
  // Re-reads config.bank_files (server/admin_routes.h); throws smacs::Error, keeps the old bank.
  nlohmann::json reload_bank() { return smacs::reload_bank(config_, gateway_); }
  // A shared bank's follower: GET /ready reports its state. Set before run().
  void follow(const BankFollower* follower) { follower_ = follower; }

 private:
  // The three doors (front_doors.cpp for the last two): each authorises, validates and turns
  // its request into a ChatRequest, then `serve` answers it in that door's shape.
  void chat_completions(const HttpRequest& req, HttpResponse& res);
  void responses(const HttpRequest& req, HttpResponse& res);
  void messages(const HttpRequest& req, HttpResponse& res);
  // A request's door: its id (also the x-request-id, unless the client sent its own), its key.
  std::shared_ptr<FrontDoor> open_door(FrontDoor::Api api, const char* id_prefix,
                                       const HttpRequest& req, HttpResponse& res) const;
  // The one request path after the door: budget header, then SMACS or a pass-through.
  void serve(const HttpRequest& req, HttpResponse& res, ChatRequest chat,
             std::shared_ptr<const FrontDoor> door);
  void answer_with_smacs(std::shared_ptr<const ChatRequest> request,
                         std::shared_ptr<const FrontDoor> door, Deadline deadline,
                         HttpResponse& res);
  // The answer as the client asked for it (the door's object, or its events when streaming).
  void smacs_response(const ChatRequest& chat, const FrontDoor& door, GatewayAnswer& answer,
                      HttpResponse& res);
  // Pass-through (relay.cpp): relayed as it came, or re-spoken for another door.
  void pass_through(size_t backend, std::shared_ptr<const ChatRequest> request,
                    std::shared_ptr<const FrontDoor> door, Deadline deadline, HttpResponse& res);
  // A pass-through stream re-spoken for another door as its events arrive.
  void pass_through_translated(size_t backend, std::shared_ptr<const ChatRequest> request,
                               std::shared_ptr<const FrontDoor> door, Deadline deadline,
                               HttpResponse& res);

  const ServerConfig& config_;
  Gateway& gateway_;
  Metrics& metrics_;
  HttpServer server_;
  AccessLog access_log_;
  const BankFollower* follower_ = nullptr;
  ResponseStore responses_;  // for previous_response_id and GET /v1/responses/{id}
};

}  // namespace smacs
