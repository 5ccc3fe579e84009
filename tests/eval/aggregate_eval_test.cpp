// `smacs eval --aggregator-url`: ZeroEval MATH-L5 in 5 folds, the references from the recorded
// data, tests/fake_backend's vote-aggregator asked over loopback, its replies cached.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "eval/aggregate_cache.h"
#include "fake_backend.h"
#include "test_util.h"

namespace smacs {
namespace {

using nlohmann::json;

const char* kPool =
    "Athene-70B,Llama-3.1-405B-Inst@sambanova,Meta-Llama-3-70B-Instruct,Meta-Llama-3-8B-Instruct,"
    "Meta-Llama-3.1-70B-Instruct,Meta-Llama-3.1-8B-Instruct,Mistral-Large-2,Phi-3.5-mini-instruct,"
    "Qwen2-72B-Instruct,Qwen2-7B-Instruct,Yi-1.5-34B-Chat,Yi-1.5-9B-Chat,deepseek-v2.5-0908,"
    "gemma-2-2b-it,gemma-2-9b-it";

// The calls each fold's stderr line reports, summed: {made, cached}.
std::pair<int, int> calls_in(const std::string& output) {
  static const std::regex line(R"((\d+) calls made, (\d+) from the cache, (\d+) failed)");
  std::pair<int, int> sum{0, 0};
  for (std::sregex_iterator it(output.begin(), output.end(), line), end; it != end; ++it) {
    sum.first += std::stoi((*it)[1]);
    sum.second += std::stoi((*it)[2]);
  }
  return sum;
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

TEST(AggregateEval, ALiveAggregatorIsReportedAndASecondRunAsksNothing) {
  test::FakeBackend aggregator;
  const std::string cache = test::temp_path("aggregate-eval.sqlite");
  std::filesystem::remove(cache);
  const std::string base = "eval --test " + test::data_file("zeroeval/math-l5") +
                           " --folds 5 --no-routers --pool " + kPool + " --aggregator-url " +
                           aggregator.url() +
                           " --aggregator-model vote-aggregator --aggregate-cache " + cache;
  // Half the candidates first: the full run then asks only for the other half.
  const auto half = test::run_smacs(base + " --candidates 4");
  ASSERT_EQ(half.exit_code, 0) << half.output;
  const int asked_first = aggregator.calls("vote-aggregator");
  EXPECT_EQ(calls_in(half.output).first, asked_first);
  const std::string report = test::temp_path("aggregate-eval.json");
  const auto full = test::run_smacs(base + " --report " + report);
  ASSERT_EQ(full.exit_code, 0) << full.output;
  const int asked = aggregator.calls("vote-aggregator");
  const auto [made, cached] = calls_in(full.output);
  EXPECT_EQ(made, asked - asked_first);
  EXPECT_EQ(cached, asked_first) << "the first run's candidates came from the cache";
  const json r = read_json(report);
  const json& task = r["tasks"]["math-l5"];
  ASSERT_TRUE(task["accuracy"].contains("smacs_aggregate")) << r.dump();
  ASSERT_TRUE(task["accuracy"].contains("smacs_aggregate_adaptive"));
  EXPECT_DOUBLE_EQ(task["calls"]["smacs_aggregate"].get<double>(), 15.0);  // 7 + 8
  const double settled = task["aggregate_references_settled_percent"];
  EXPECT_GT(settled, 0);
  EXPECT_LT(settled, 100);
  EXPECT_NEAR(task["calls"]["smacs_aggregate_adaptive"].get<double>(), 7 + 8 * (1 - settled / 100),
              1e-9);
  EXPECT_EQ(r["aggregate_mode"]["aggregator"], "vote-aggregator");
  // The questions the stand-in answered were graded: a majority of 6 references beats chance.
  EXPECT_GT(task["accuracy"]["smacs_aggregate"].get<double>(),
            task["accuracy"]["random"].get<double>());

  // Again: no call at all, the same report.
  const std::string again = test::temp_path("aggregate-eval-again.json");
  const auto second = test::run_smacs(base + " --report " + again);
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_EQ(aggregator.calls("vote-aggregator"), asked) << "the second run asked the aggregator";
  EXPECT_EQ(calls_in(second.output).first, 0);
  EXPECT_EQ(read_json(again), r);
  // Re-scored with another ppl_coef from the cache: still no call.
  const auto rescored = test::run_smacs(base + " --ppl-coef 0");
  ASSERT_EQ(rescored.exit_code, 0) << rescored.output;
  EXPECT_EQ(aggregator.calls("vote-aggregator"), asked);
}

TEST(AggregateEval, WithoutAnAggregatorTheCostSideAloneAndBadFlagsAreOneLine) {
  const std::string report = test::temp_path("aggregate-offline.json");
  const auto r = test::run_smacs("eval --test " + test::data_file("zeroeval/math-l5") +
                                 " --folds 5 --no-routers --pool " + kPool +
                                 " --mode aggregate --report " + report);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json j = read_json(report);
  EXPECT_FALSE(j["tasks"]["math-l5"]["accuracy"].contains("smacs_aggregate"));
  EXPECT_TRUE(j["tasks"]["math-l5"]["calls"].contains("smacs_aggregate_adaptive"));
  EXPECT_TRUE(j["aggregate_mode"]["aggregator"].is_null());
  const auto no_model = test::run_smacs("eval --test " + test::data_file("zeroeval/math-l5") +
                                        " --folds 5 --aggregator-url http://127.0.0.1:1/v1");
  EXPECT_NE(no_model.exit_code, 0);
  EXPECT_NE(no_model.output.find("--aggregator-url needs --aggregator-model"), std::string::npos)
      << no_model.output;
}

TEST(AggregateCache, KeysTellSubsetOrderSettingsAndSamplesApart) {
  const std::string path = test::temp_path("aggregate-cache.sqlite");
  std::filesystem::remove(path);
  AggregateKey a{.aggregator = "agg", .question = "q", .subset = {"m1", "m2"}, .settings = "{}"};
  AggregateKey reordered = a, again = a, hotter = a;
  reordered.subset = {"m2", "m1"};
  again.sample = 1;
  hotter.settings = R"({"temperature":1.0})";
  {
    AggregateCache cache(path);
    cache.put(a, {.text = "forty-two", .mean_logprob = -0.25});
    cache.put(again, {.text = "no logprobs"});
  }
  AggregateCache cache(path);  // reopened: it kept them
  EXPECT_EQ(cache.size(), 2u);
  ASSERT_TRUE(cache.find(a));
  EXPECT_EQ(cache.find(a)->text, "forty-two");
  EXPECT_DOUBLE_EQ(*cache.find(a)->mean_logprob, -0.25);
  EXPECT_FALSE(cache.find(again)->mean_logprob);
  EXPECT_FALSE(cache.find(reordered));
  EXPECT_FALSE(cache.find(hotter));
  test::write_temp("not-a-cache.sqlite", "this is not SQLite");
  EXPECT_NE(test::error_of([] {
              AggregateCache bad(test::temp_path("not-a-cache.sqlite"));
            }).find("not-a-cache.sqlite"),
            std::string::npos);
}

}  // namespace
}  // namespace smacs
