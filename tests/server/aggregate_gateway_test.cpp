// Aggregate mode through the gateway (method.md 2a): replay-serve of the ZeroEval MATH-L5
// files answers as the references, tests/fake_backend's vote-aggregator writes the candidates.
#include <gtest/gtest.h>

#include <chrono>

#include "aggregate_fixture.h"
#include "fake_backend.h"

namespace smacs::test {
namespace {

TEST(AggregateGateway, EightCandidatesOfSixReferencesAskedAtOnceAndTheBestChosen) {
  FakeBackend aggregator;
  const std::string mode = "vote-aggregator:" + std::to_string(kAggregatorMs);
  AggregateGateway g(aggregator.url(), mode, false);
  const auto start = std::chrono::steady_clock::now();
  const json r = g.ask(math_l5().records[3].question);
  const double wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  const json& a = r["smacs"]["aggregate"];
  ASSERT_TRUE(a.is_object()) << r.dump();
  EXPECT_EQ(a["aggregator"], "agg");
  EXPECT_EQ(a["references"].size(), 7u);
  ASSERT_EQ(a["candidates"].size(), 8u);
  EXPECT_EQ(aggregator.calls(mode), 8);
  int best = 0;
  for (size_t j = 0; j < 8; ++j) {
    const json& c = a["candidates"][j];
    EXPECT_EQ(c["subset"].size(), 6u);
    EXPECT_GE(c["latency_ms"].get<double>(), kAggregatorMs * 0.9);
    EXPECT_TRUE(c["ppl"].is_number()) << "the aggregator sent logprobs";
    if (c["total"].get<double>() > a["candidates"][best]["total"].get<double>())
      best = static_cast<int>(j);
  }
  EXPECT_EQ(a["chosen"], best);
  EXPECT_EQ(r["smacs"]["chosen"], "agg");
  EXPECT_TRUE(a["fallback"].is_null());
  EXPECT_TRUE(r["choices"][0]["logprobs"].is_null()) << "asked for the ppl term, not by the client";
  // Eight calls of 300 ms that overlap: the whole request well under two calls' time.
  EXPECT_LT(wall_ms, 2 * kAggregatorMs + 400) << "the aggregator calls did not overlap";
  // The usage sums the references' and the aggregator's calls (120 tokens each).
  EXPECT_GE(r["usage"]["total_tokens"].get<int>(), 8 * 120);
  const std::string metrics = g.gw->metrics.render();
  EXPECT_NE(metrics.find("aggregator_call"), std::string::npos);
}

TEST(AggregateGateway, AggregatorDownAnswersInSelectModeAndSaysSo) {
  AggregateGateway g("http://127.0.0.1:1/v1", "vote-aggregator", false);  // nothing listens
  const json r = g.ask(math_l5().records[3].question);
  const json& a = r["smacs"]["aggregate"];
  ASSERT_TRUE(a.is_object()) << r.dump();
  EXPECT_TRUE(a["fallback"].is_string());
  EXPECT_TRUE(a["chosen"].is_null());
  EXPECT_EQ(a["candidates"].size(), 8u);
  EXPECT_TRUE(a["candidates"][0].contains("error"));
  const std::string chosen = r["smacs"]["chosen"];
  EXPECT_NE(std::find(kZeroEvalOpen.begin(), kZeroEvalOpen.end(), chosen), kZeroEvalOpen.end());
  EXPECT_NE(g.gw->metrics.render().find("aggregate_fallback"), std::string::npos);
  // Eight failures opened its circuit: the next question does not ask it at all.
  const json next = g.ask(math_l5().records[4].question);
  EXPECT_EQ(next["smacs"]["aggregate"]["skipped"], "circuit_open") << next.dump();
  EXPECT_TRUE(next["smacs"]["aggregate"]["candidates"].empty());
  EXPECT_NE(next["smacs"]["chosen"], "agg");
}

TEST(AggregateGateway, AdaptiveSkipsTheAggregatorOnSettledQuestions) {
  FakeBackend aggregator;
  AggregateGateway g(aggregator.url(), "vote-aggregator", true);
  int skipped = 0, asked = 0;
  for (size_t i = 0; i < 12; ++i) {
    const int before = aggregator.calls("vote-aggregator");
    const json r = g.ask(math_l5().records[i].question);
    const json& a = r["smacs"]["aggregate"];
    ASSERT_TRUE(a.is_object()) << r.dump();
    const int calls = aggregator.calls("vote-aggregator") - before;
    if (a["skipped"] == "settled") {
      ++skipped;
      EXPECT_EQ(calls, 0);
      EXPECT_TRUE(a["candidates"].empty());
      EXPECT_NE(r["smacs"]["chosen"], "agg");
    } else {
      ++asked;
      EXPECT_EQ(calls, 8);
    }
  }
  EXPECT_GT(skipped, 0);
  EXPECT_GT(asked, 0);
}

}  // namespace
}  // namespace smacs::test

namespace smacs::test {
namespace {

TEST(AggregateConfig, TheExampleLoadsAndMistakesAreNamed) {
  const ServerConfig c = load_server_config(data_file("../examples/aggregate.yaml"));
  EXPECT_EQ(c.params.mode, EpeMode::kAggregate);
  EXPECT_EQ(c.params.k, 7u);
  EXPECT_EQ(c.aggregator, "agg");
  ASSERT_EQ(c.aggregators.size(), 1u);
  EXPECT_EQ(c.aggregators[0].http.model, "vote-aggregator");
  EXPECT_EQ(c.params.aggregate.candidates, 8u);
  EXPECT_EQ(c.params.aggregate.keep, 6u);
  EXPECT_EQ(c.pool.size(), 15u);
  const std::string pool = "bank: b.csv\npool:\n  - {name: m, base_url: http://127.0.0.1:1/v1}\n";
  auto error = [&](const std::string& smacs, const std::string& extra = "") {
    return error_of([&] { parse_server_config(pool + extra + "smacs: " + smacs + "\n", "."); });
  };
  EXPECT_NE(error("{mode: aggregate}").find("mode aggregate needs key 'aggregator'"),
            std::string::npos);
  EXPECT_NE(error("{mode: aggregate, aggregator: nobody}").find("'nobody' is neither"),
            std::string::npos);
  EXPECT_NE(error("{mode: blend}").find("unknown mode 'blend'"), std::string::npos);
  EXPECT_NE(error("{mode: aggregate, aggregator: m, sampler: best}").find("unknown sampler"),
            std::string::npos);
  EXPECT_NE(error("{mode: aggregate, aggregator: m, candidates: 0}").find("'candidates'"),
            std::string::npos);
  EXPECT_NE(error("{mode: aggregate, aggregator: a}",
                  "aggregators:\n  - {name: m, base_url: http://127.0.0.1:1/v1}\n")
                .find("duplicate name 'm'"),
            std::string::npos);
  EXPECT_EQ(error("{mode: aggregate, aggregator: m}"), "(no error)");  // a pool model will do
}

}  // namespace
}  // namespace smacs::test
