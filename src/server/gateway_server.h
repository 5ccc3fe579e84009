// `smacs serve`: the OpenAI-compatible HTTP front of the Gateway.
//
//   POST /v1/chat/completions  model "smacs" runs SMACS; a pool model's name passes through
//   GET  /v1/models            "smacs" and the pool;  GET /v1/models/{id}: one of them
//   GET  /health               {"status":"ok"}: the process is up
//   GET  /ready                200 {"status":"ready"}, or 503 "degraded" while a shared bank's
//                              database has been unreachable past its grace period
//   GET  /metrics              Prometheus text
//   POST /v1/feedback          {"id": answer id, "score": 0..1, "model"?: default the chosen one}
//   POST /admin/reload         re-reads the bank (as SIGHUP does)
//
// Everything but /health and /metrics is behind the API key when keys are configured. Every
// reply carries an `x-request-id` (the client's own, else the answer's random id). A SMACS
// request may cap its spending: body field {"smacs": {"max_cost_usd": x}} or header
// `x-smacs-max-cost-usd: x` (the smaller wins).
#pragma once
#include <cstdio>
#include <memory>

#include "server/bank_follower.h"
#include "server/config.h"
#include "server/gateway.h"
#include "server/http_server.h"

namespace smacs {

class GatewayServer {
 public:
  // Throws smacs::Error for a config that would leave the admin endpoints open to the network.
  GatewayServer(const ServerConfig& config, Gateway& gateway, Metrics& metrics);
  ~GatewayServer();
  int bind();                      // returns the port (config port 0 = any free port)
  void run();                      // serves until stop()
  void stop() { server_.stop(); }  // graceful: finishes the requests in flight
  // Re-reads config.bank_files; throws smacs::Error, keeps the old bank.
  nlohmann::json reload_bank();
  // A shared bank's follower: GET /ready reports its state. Set before run().
  void follow(const BankFollower* follower) { follower_ = follower; }

 private:
  void chat_completions(const HttpRequest& req, HttpResponse& res);
  void answer_with_smacs(const HttpRequest& req, ChatRequest chat, const std::string& id,
                         Deadline deadline, HttpResponse& res);
  // The answer as the client asked for it (a chat.completion, or its events when streaming).
  static void smacs_response(const ChatRequest& chat, const std::string& id, GatewayAnswer& answer,
                             HttpResponse& res);
  void pass_through(size_t backend, std::shared_ptr<const ChatRequest> request, Deadline deadline,
                    HttpResponse& res);
  static void fail_stream(StreamReply& out, HttpResponse head, const ApiError& e);
  static ApiError backend_error(const std::string& name, const BackendError& error);
  void feedback(const HttpRequest& req, HttpResponse& res);
  void list_models(const HttpRequest& req, HttpResponse& res);
  void log_access(const HttpRequest& req, const HttpResponse& res, double ms);
  // The key the request carries ("" when keys are off); nullopt when it lacks a valid one.
  std::optional<std::string> client_key(const HttpRequest& req) const;
  // Sends the 401 and returns true when the request lacks a valid key.
  bool reject_unauthorized(const HttpRequest& req, HttpResponse& res) const;

  const ServerConfig& config_;
  Gateway& gateway_;
  Metrics& metrics_;
  HttpServer server_;
  FILE* access_log_ = nullptr;  // stderr, a file, or none
  const BankFollower* follower_ = nullptr;
};

}  // namespace smacs
