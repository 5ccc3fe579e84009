// The paper's aggregate step (method.md 2a): the subset sampler's probabilities on a worked
// example and its degenerate fallbacks, seeded draws without replacement, the aggregator's
// exact system message, and the candidates' consensus and log-probability scores.
#include "aggregation/aggregate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "embedding/tfidf.h"
#include "pipeline/aggregate_mode.h"

using namespace smacs;

TEST(Aggregate, PriorSamplerOnAWorkedExample) {
  // d = (0.4, 0.3, 0), D = 0.25 / sqrt(3), p ~ exp((d - 0.2333...) / D).
  const auto p = subset_probabilities({0.9, 0.8, 0.5}, SubsetSampler::kPrior);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_NEAR(p[0], 0.639899572296762, 1e-9);
  EXPECT_NEAR(p[1], 0.320054381238887, 1e-9);
  EXPECT_NEAR(p[2], 0.040046046464351, 1e-9);
  const auto soft = subset_probabilities({1, 2, 4}, SubsetSampler::kSoftmax, 2.0);
  EXPECT_NEAR(soft[0], 0.140244383166088, 1e-9);
  EXPECT_NEAR(soft[2], 0.628531719211762, 1e-9);
  for (double v : subset_probabilities({1, 2, 4}, SubsetSampler::kUniform))
    EXPECT_DOUBLE_EQ(v, 1.0 / 3);
}

TEST(Aggregate, DegenerateScoresFallBackToUniform) {
  for (const auto& s :
       {std::vector<double>{0.5, 0.5, 0.5, 0.5}, std::vector<double>{0.5, NAN, 0.7, 0.1},
        std::vector<double>{INFINITY, 0.2, 0.3, 0.4}}) {
    const auto p = subset_probabilities(s, SubsetSampler::kPrior);
    for (double v : p) EXPECT_DOUBLE_EQ(v, 0.25);
  }
  EXPECT_TRUE(subset_probabilities({}, SubsetSampler::kPrior).empty());
  for (double v : subset_probabilities({1, 2}, SubsetSampler::kSoftmax, 0.0))
    EXPECT_DOUBLE_EQ(v, 0.5);  // no temperature: uniform, not a division by zero
}

TEST(Aggregate, SubsetsAreSeededDrawsWithoutReplacement) {
  const auto p = subset_probabilities({0.9, 0.85, 0.8, 0.6, 0.5, 0.4, 0.2}, SubsetSampler::kPrior);
  const auto a = draw_subsets(p, 6, 8, 42);
  EXPECT_EQ(a, draw_subsets(p, 6, 8, 42));
  EXPECT_NE(a, draw_subsets(p, 6, 8, 43));
  ASSERT_EQ(a.size(), 8u);
  for (const auto& s : a) {
    EXPECT_EQ(s.size(), 6u);
    EXPECT_EQ(std::set<size_t>(s.begin(), s.end()).size(), 6u);  // no reference twice
  }
  // The least likely reference is the one most often left out.
  std::vector<int> left_out(7, 0);
  for (const auto& s : draw_subsets(p, 6, 2000, 7))
    for (size_t i = 0; i < 7; ++i) left_out[i] += std::find(s.begin(), s.end(), i) == s.end();
  EXPECT_EQ(std::max_element(left_out.begin(), left_out.end()) - left_out.begin(), 6);
  EXPECT_EQ(draw_subsets({0.5, 0.5}, 6, 1, 1).front().size(), 2u);       // keep > references
  EXPECT_EQ(draw_subsets({1.0, 0.0, 0.0}, 3, 1, 1).front().size(), 3u);  // zero weights too
}

TEST(Aggregate, TheAggregatorsSystemMessageExactly) {
  const std::string block =
      "You have been provided with a set of responses from various models to the latest user "
      "query. Your task is to synthesize these responses into a single, high-quality response. "
      "Critically evaluate the information in them, recognizing that some of it may be biased "
      "or incorrect. Do not simply copy one of the given answers: write one refined, accurate "
      "and complete reply to the instruction, well structured and coherent, held to the "
      "highest standards of accuracy and reliability.\n\nResponses from models:\n1. It is 4.\n"
      "2. The answer is 5.";
  EXPECT_EQ(aggregator_system_message("", {"It is 4.", "The answer is 5."}), block);
  EXPECT_EQ(aggregator_system_message("You are terse.", {"It is 4.", "The answer is 5."}),
            "You are terse.\n\n" + block);
}

TEST(Aggregate, ConsensusAndConfidenceRankTheCandidates) {
  TfidfEmbedder e;
  const std::vector<std::string> texts = {"the answer is 42 because six times seven",
                                          "six times seven gives 42 the answer",
                                          "the capital of france is paris"};
  e.fit(texts);
  const auto s = score_aggregates(texts, {std::nullopt, std::nullopt, std::nullopt}, e, 1.0);
  ASSERT_EQ(s.size(), 3u);
  // The diagonal counts: each consensus is (1 + its two cosines) / 3.
  for (const auto& c : s) EXPECT_GT(c.consensus, 1.0 / 3 - 1e-9);
  EXPECT_GT(s[0].consensus, s[2].consensus);
  EXPECT_FALSE(s[0].ppl);
  EXPECT_LT(best_candidate(s), 2);
  // A confident candidate gains: ppl = 1 - exp(-mean logprob) (0 when certain, < 0 otherwise).
  const auto t = score_aggregates(texts, {-2.0, -0.01, 0.0}, e, 1.0);
  EXPECT_NEAR(*t[0].ppl, 1 - std::exp(2.0), 1e-12);
  EXPECT_DOUBLE_EQ(*t[2].ppl, 0.0);
  EXPECT_NEAR(t[1].total, t[1].consensus + 1 - std::exp(0.01), 1e-12);
  EXPECT_EQ(best_candidate(t), 1);
  EXPECT_EQ(best_candidate({{.consensus = 1, .total = 1}, {.consensus = 1, .total = 1}}), 0);
  EXPECT_EQ(best_candidate({}), -1);
}

TEST(Aggregate, TheAggregatorRequestKeepsTheUserTurnsAndAsksForLogProbabilities) {
  const nlohmann::json plain = {{"model", "smacs"},
                                {"n", 3},
                                {"temperature", 0.1},
                                {"messages", {{{"role", "user"}, {"content", "What is 2+2?"}}}}};
  const auto r = aggregator_request(plain, {"4", "5"}, 0.7);
  ASSERT_EQ(r["messages"].size(), 2u);
  EXPECT_EQ(
      r["messages"][0],
      (nlohmann::json{{"role", "system"}, {"content", aggregator_system_message("", {"4", "5"})}}));
  EXPECT_EQ(r["messages"][1], plain["messages"][0]);
  EXPECT_EQ(r["temperature"], 0.7);
  EXPECT_EQ(r["logprobs"], true);
  EXPECT_FALSE(r.contains("n"));
  nlohmann::json with_system = plain;
  with_system["messages"].insert(with_system["messages"].begin(),
                                 nlohmann::json{{"role", "system"}, {"content", "Be terse."}});
  const auto s = aggregator_request(with_system, {"4"}, 0.7);
  ASSERT_EQ(s["messages"].size(), 2u);
  EXPECT_EQ(s["messages"][0]["content"], aggregator_system_message("Be terse.", {"4"}));
}

TEST(Aggregate, MeanTokenLogprobReadsOpenAIsShape) {
  const auto reply = nlohmann::json::parse(R"({"choices":[{"message":{"content":"x"},
      "logprobs":{"content":[{"token":"a","logprob":-1.0},{"token":"b","logprob":-0.5}]}}]})");
  EXPECT_DOUBLE_EQ(*mean_token_logprob(reply), -0.75);
  EXPECT_FALSE(mean_token_logprob(nlohmann::json::parse(R"({"choices":[{"logprobs":null}]})")));
  EXPECT_FALSE(mean_token_logprob(nlohmann::json::parse(R"({"choices":[]})")));
  EXPECT_FALSE(mean_token_logprob(nlohmann::json()));
}

// The driver both faces share (pipeline/aggregate_mode.h), on a plan made by hand.
struct DriverCase {
  Plan plan;
  Rounds rounds;
  std::vector<std::optional<std::string>> texts = {"ref a", std::nullopt, "ref c", "ref d"};
  SmacsParams params;
  DriverCase() {
    plan.proxy.score = {0.9, 0.5, 0.7, 0.2};
    plan.selection.selected = {0, 2, 1, 3};  // pool positions, best first
    rounds.answers = {"12", std::nullopt, "12", "7"};
    params.mode = EpeMode::kAggregate;
    params.aggregate.candidates = 5;
    params.aggregate.keep = 2;
  }
  AggregationInProgress start() const {
    return AggregationInProgress(plan, rounds, texts, params, "the question");
  }
};

TEST(AggregateMode, SubsetsComeFromTheReferencesThatAnsweredSeededByTheQuestion) {
  const DriverCase c;
  const auto a = c.start();
  EXPECT_TRUE(a.result().asked());
  EXPECT_EQ(a.result().references, (std::vector<size_t>{0, 2, 3}));
  ASSERT_EQ(a.result().subsets.size(), 5u);
  const auto refs = a.call_references();
  for (size_t j = 0; j < 5; ++j) {
    const auto& s = a.result().subsets[j];
    ASSERT_EQ(s.size(), 2u);
    EXPECT_NE(s[0], s[1]);
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_NE(s[i], 1u) << "the failed reference is never drawn";
      EXPECT_EQ(refs[j][i], *c.texts[s[i]]);
    }
  }
  EXPECT_EQ(c.start().result().subsets, a.result().subsets);  // same question, same draws
  const auto other = AggregationInProgress(c.plan, c.rounds, c.texts, c.params, "another");
  EXPECT_EQ(other.result().subsets.size(), 5u);
}

TEST(AggregateMode, ToolCallsAgreeByFunctionAndArgumentsAndAllFailedFallsBack) {
  const DriverCase c;
  TfidfEmbedder e;
  e.fit({"unused"});
  auto a = c.start();
  const std::string paris = R"(tool_calls: get_weather{"city":"Paris"})";
  a.take({AggregateCandidate{.text = R"(tool_calls: get_weather{"city":"Rome"})"},
          AggregateCandidate{.text = paris}, std::nullopt, AggregateCandidate{.text = paris}},
         AnswerKind::kText, e);  // four replies for five calls: the fifth failed
  EXPECT_EQ(a.result().best, 1);
  EXPECT_FALSE(a.result().candidates[4]);
  EXPECT_GT(a.result().scores[1].consensus, a.result().scores[0].consensus);
  EXPECT_DOUBLE_EQ(a.result().scores[2].total, 0.0);  // failed: no score
  auto failed = c.start();
  failed.take({}, AnswerKind::kText, e);
  EXPECT_TRUE(failed.result().fell_back());
  EXPECT_EQ(failed.result().best, -1);
}

TEST(AggregateMode, AdaptiveSkipsSettledReferencesAndNoReferencesSkipsToo) {
  DriverCase c;
  c.params.adaptive.enabled = true;
  c.rounds.settled = true;
  EXPECT_EQ(c.start().result().skipped, AggregateSkip::kSettled);
  EXPECT_TRUE(c.start().result().subsets.empty());
  c.rounds.settled = false;
  EXPECT_TRUE(c.start().result().asked());
  c.rounds.answers.assign(4, std::nullopt);
  EXPECT_EQ(c.start().result().skipped, AggregateSkip::kNoReferences);
  EXPECT_FALSE(c.start().result().fell_back());
}

// Hostile run 3: one reply without logprobs (term exactly 0, the best any candidate can have)
// beat seven agreeing ones whose terms are below 0. Missing logprobs are neutral now.
TEST(Aggregate, ACandidateWithoutLogprobsIsNeutralNotBest) {
  std::vector<std::optional<double>> logprobs(7, -0.5);
  logprobs.push_back(std::nullopt);  // the rogue: "maybe \boxed{999}", no logprobs
  // Seven agree among themselves a little more than the rogue agrees with them.
  auto similarity = [](size_t a, size_t b) {
    if (a == b) return 1.0;
    return (a == 7 || b == 7) ? 0.80 : 0.85;
  };
  const auto s = score_aggregates_by(8, similarity, logprobs, 1.0);
  EXPECT_FALSE(s[7].ppl) << "the trace still says it sent none";
  EXPECT_NEAR(s[7].total, s[7].consensus + (1 - std::exp(0.5)), 1e-12) << "the others' mean";
  EXPECT_LT(best_candidate(s), 7);
  // With nobody's logprobs the term is 0 for all: consensus alone decides.
  const auto none = score_aggregates_by(8, similarity, {}, 1.0);
  EXPECT_DOUBLE_EQ(none[7].total, none[7].consensus);
}

// Hostile run 3: eight empty (or null) aggregator replies were returned as a 200 with an empty
// answer. Blank is a failed call, and so is a reply over max_candidate_bytes.
TEST(AggregateMode, BlankAndOversizedRepliesAreNoCandidates) {
  const nlohmann::json reply = {{"choices", {{{"message", {{"content", "x"}}}}}}};
  std::string why;
  EXPECT_FALSE(aggregate_candidate(reply, "", 100, &why));
  EXPECT_EQ(why, "the reply is empty");
  EXPECT_FALSE(aggregate_candidate(reply, " \n\t ", 100, &why));
  EXPECT_FALSE(aggregate_candidate(reply, std::string(101, 'a'), 100, &why));
  EXPECT_NE(why.find("more than max_candidate_bytes 100"), std::string::npos) << why;
  const auto ok = aggregate_candidate(reply, std::string(100, 'a'), 100);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->text.size(), 100u);
}
