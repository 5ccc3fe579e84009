// `smacs serve`: the OpenAI-compatible HTTP front of the Gateway.
//
//   POST /v1/chat/completions  model "smacs" runs SMACS; a pool model's name passes straight
//   through GET  /v1/models            "smacs" and the pool GET  /health {"status":"ok"} GET
//   /metrics              Prometheus text POST /v1/feedback          {"id": answer id, "score":
//   0..1, "model"?: default the chosen one} POST /admin/reload         re-reads the bank (as SIGHUP
//   does); behind the API key
#pragma once
#include <httplib.h>

#include "server/config.h"
#include "server/gateway.h"

namespace smacs {

class GatewayServer {
 public:
  GatewayServer(const ServerConfig& config, Gateway& gateway, Metrics& metrics);
  int bind();  // returns the port (config port 0 = any free port)
  void run();  // serves until stop()
  void stop() { server_.stop(); }
  nlohmann::json
  reload_bank();  // re-reads config.bank_files; throws smacs::Error, keeps the old bank

 private:
  void chat_completions(const httplib::Request& req, httplib::Response& res);
  void feedback(const httplib::Request& req, httplib::Response& res);
  bool authorized(const httplib::Request& req) const;
  // Sends the 401 and returns true when the request lacks a valid key.
  bool reject_unauthorized(const httplib::Request& req, httplib::Response& res) const;

  const ServerConfig& config_;
  Gateway& gateway_;
  Metrics& metrics_;
  httplib::Server server_;
  std::atomic<uint64_t> next_id_{1};
};

}  // namespace smacs
