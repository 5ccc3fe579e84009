// Aggregate mode through the gateway, for the tests: replay-serve of the ZeroEval MATH-L5 files
// answers as the 15 open references, an aggregator at a given URL writes the candidates.
#pragma once
#include <gtest/gtest.h>

#include <functional>

#include "gateway_fixture.h"

namespace smacs::test {

inline const std::vector<std::string> kZeroEvalOpen = {"Athene-70B",
                                                "Llama-3.1-405B-Inst@sambanova",
                                                "Meta-Llama-3-70B-Instruct",
                                                "Meta-Llama-3-8B-Instruct",
                                                "Meta-Llama-3.1-70B-Instruct",
                                                "Meta-Llama-3.1-8B-Instruct",
                                                "Mistral-Large-2",
                                                "Phi-3.5-mini-instruct",
                                                "Qwen2-72B-Instruct",
                                                "Qwen2-7B-Instruct",
                                                "Yi-1.5-34B-Chat",
                                                "Yi-1.5-9B-Chat",
                                                "deepseek-v2.5-0908",
                                                "gemma-2-2b-it",
                                                "gemma-2-9b-it"};

inline const Dataset& math_l5() {
  static const Dataset data = load_file(data_file("zeroeval/math-l5"));
  return data;
}

constexpr int kAggregatorMs = 300;  // each aggregator call takes this long

// A gateway in aggregate mode over the 15 open models (k = 7), its aggregator at `aggregator`
// (an OpenAI base URL) under the upstream model `mode`.
struct AggregateGateway {
  std::unique_ptr<Serving<ReplayServer>> replay;
  std::unique_ptr<GatewayFixture> gw;
  // `adjust` changes the config further (a pool aggregator, max_candidate_bytes, ...).
  AggregateGateway(const std::string& aggregator, const std::string& mode, bool adaptive,
                   int timeout_ms = 10000,
                   const std::function<void(ServerConfig&)>& adjust = {},
                   int reference_latency_ms = 0)
      : replay(serve_replay(math_l5(), reference_latency_ms)) {
    std::vector<std::pair<std::string, std::string>> pool;
    for (const auto& m : kZeroEvalOpen) pool.emplace_back(m, url(replay->port));
    gw = std::make_unique<GatewayFixture>(
        pool, timeout_ms, 5000, std::vector<std::string>{}, std::vector<Price>{},
        [&](ServerConfig& c) {
          c.params.mode = EpeMode::kAggregate;
          c.params.k = 7;
          c.params.adaptive.enabled = adaptive;
          c.aggregator = "agg";
          BackendConfig& b = c.aggregators.emplace_back();
          b.http = {.name = "agg", .base_url = aggregator, .model = mode, .retries = 0};
          if (adjust) adjust(c);
        },
        &math_l5());
  }
  json ask(const std::string& question) const {
    auto r = gw->client().Post("/v1/chat/completions", chat("smacs", question).dump(),
                               "application/json");
    if (!r) ADD_FAILURE() << "no reply";
    if (!r) return json();
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body);
  }
};

}  // namespace smacs::test
