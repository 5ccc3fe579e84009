// A gateway over replay-serve backends on loopback, for the server tests.
#pragma once
#include <httplib.h>

#include <functional>

#include "data/load.h"
#include "eval/evaluate.h"
#include "server/config.h"
#include "server/gateway_server.h"
#include "server/replay_server.h"
#include "server/wiring.h"
#include "test_util.h"

namespace smacs::test {

using nlohmann::json;

const std::vector<std::string> kOpenPool = {
    "zero-one-ai/Yi-34B-Chat",   "mistralai/mixtral-8x7b-chat",       "meta/llama-2-70b-chat",
    "mistralai/mistral-7b-chat", "meta/code-llama-instruct-34b-chat", "WizardLM/WizardLM-13B-V1.2"};

inline std::string rb(const std::string& split) {
  return test::data_file("routerbench/arc_challenge_" + split + ".csv");
}

inline json chat(const std::string& model, const std::string& question) {
  return {{"model", model}, {"messages", json::array({{{"role", "user"}, {"content", question}}})}};
}

// A gateway over `urls` (one per pool member), bank = RouterBench train.
struct GatewayFixture {
  ServerConfig config;
  Metrics metrics;
  std::unique_ptr<Gateway> gateway;
  std::unique_ptr<Serving<GatewayServer>> running;

  GatewayFixture(const std::vector<std::pair<std::string, std::string>>& pool,
                 int timeout_ms = 5000, int backend_timeout_ms = 5000,
                 std::vector<std::string> keys = {}, std::vector<Price> prices = {},
                 const std::function<void(ServerConfig&)>& adjust = {},
                 const Dataset* bank_data = nullptr) {  // default: RouterBench train
    config.port = 0;
    config.threads = 16;
    config.request_timeout_ms = timeout_ms;
    config.api_keys = std::move(keys);
    config.max_body_bytes = 64 * 1024;
    config.access_log = "none";
    if (adjust) adjust(config);
    for (size_t i = 0; i < pool.size(); ++i) {
      BackendConfig& b = config.pool.emplace_back();
      b.http.name = pool[i].first;
      b.http.base_url = pool[i].second;
      b.http.timeout_ms = backend_timeout_ms;
      b.http.retries = 1;
      b.http.backoff_ms = 10;
      if (i < prices.size()) b.price = prices[i];
    }
    gateway = make_gateway(config, build_bank(bank_data ? *bank_data : load_file(rb("train"))),
                           config.params, metrics);  // as `smacs serve` makes it
    running = std::make_unique<Serving<GatewayServer>>(
        std::make_unique<GatewayServer>(config, *gateway, metrics));
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", running->port);
    c.set_read_timeout(30, 0);
    c.set_tcp_nodelay(true);
    return c;
  }
};

inline std::unique_ptr<Serving<ReplayServer>> start_replay(int latency_ms = 0,
                                                           double fail_rate = 0) {
  return test::serve_replay(load_file(rb("test")), latency_ms, fail_rate);
}

inline std::string url(int port) { return "http://127.0.0.1:" + std::to_string(port) + "/v1"; }

}  // namespace smacs::test
