// Judged free text (issue 27): the length-controlled score, the answer ranker, its out-of-sample
// use in tuning, and the gateway answering AlpacaEval questions by the ranker's choice.
#include "posterior/ranker.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "data/load.h"
#include "eval/evaluate.h"
#include "eval/folds.h"
#include "eval/length_control.h"
#include "gateway_fixture.h"
#include "posterior/ranker_training.h"
#include "test_util.h"

namespace smacs::test {
namespace {

using nlohmann::json;

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

// A worked example: answers 100 characters longer than the reference are preferred with
// sigmoid(theta + phi tanh(1)), 100 shorter with sigmoid(theta - phi tanh(1)); theta = -1,
// phi = 2. The raw score rewards the long ones; the controlled one is sigmoid(-1).
TEST(LengthControl, AWorkedExampleRecoversThePreferenceAtEqualLength) {
  const double up = sigmoid(-1 + 2 * std::tanh(1.0)), down = sigmoid(-1 - 2 * std::tanh(1.0));
  const std::vector<JudgedAnswer> answers = {{up, 100}, {down, -100}, {up, 100}, {down, -100}};
  EXPECT_NEAR(100 * (up + down) / 2, 35.11, 0.01);                         // the raw score
  EXPECT_NEAR(length_controlled_score(answers), 100 * sigmoid(-1), 1e-3);  // 26.894
  // Lengths that do not vary: nothing to control, the plain mean.
  EXPECT_NEAR(length_controlled_score({{0.2, 5}, {0.6, 5}}), 40.0, 1e-9);
  // Longer answers that are not preferred more: the controlled score is the raw one.
  EXPECT_NEAR(length_controlled_score({{0.3, 100}, {0.3, -100}}), 30.0, 1e-6);
}

JudgedQuestion judged(std::vector<std::string_view> responses, std::vector<double> score) {
  return {std::move(responses), std::vector<double>(score.size(), 1.0 / score.size()),
          std::move(score)};
}

// The judge preferred the structured answer; the ranker, fitted on that, prefers one it never
// saw that is structured.
TEST(Ranker, LearnsWhatTheJudgePreferredAndIsDeterministic) {
  const std::string list = "Here are the steps:\n\n1. First do this.\n2. Then that.\n3. Done.";
  const std::string flat = "do this then that";
  std::vector<JudgedQuestion> questions;
  for (int i = 0; i < 20; ++i) questions.push_back(judged({list, flat}, {0.9, 0.1}));
  const AnswerRanker ranker = fit_ranker(questions);
  ASSERT_TRUE(ranker.trained());
  EXPECT_EQ(ranker.questions, 20u);
  EXPECT_EQ(ranker.pairs, 20u);
  const std::string other_list = "Steps:\n\n- Open it.\n- Look inside.\n- Close it.";
  const std::vector<std::string_view> unseen = {"open it and look", other_list};
  const std::vector<double> prior = {0.5, 0.5};
  const auto f = answer_features(unseen, prior, consensus_scores(unseen, prior));
  EXPECT_GT(ranker.score(f[1]), ranker.score(f[0]));
  EXPECT_EQ(fit_ranker(questions).weights, ranker.weights);
  EXPECT_FALSE(fit_ranker({judged({list, flat}, {0.5, 0.5})}).trained());  // no gap, no pair
}

// A bank of judged text: model "long" wins every question but one, where "short" wins by far
// and its answer is the only one in the bank with a code fence.
Dataset fence_bank() {
  Dataset d{{"long", "short"}, {}};
  for (int i = 0; i < 40; ++i) {
    Record r;
    r.id = "q" + std::to_string(i);
    r.task = "chat";
    r.question = "question number " + std::to_string(i) + " about topic " + std::to_string(i % 7);
    r.scores = {0.8f, 0.2f};
    r.responses = {"A long and careful answer to question " + std::to_string(i) +
                       ", with reasons and an example.",
                   "Short."};
    if (i == 17) {
      r.scores = {0.0f, 1.0f};
      r.responses[1] = "```\nprint(17)\n```";
    }
    d.records.push_back(r);
  }
  return d;
}

// Tuning scores each bank question with a ranker fitted without it: trained on row 17 itself
// the ranker learns that a code fence wins; out of sample it cannot know.
TEST(Ranker, TuningScoresEachQuestionWithARankerThatNeverSawIt) {
  const PriorBank bank = build_bank(fence_bank());
  EvalInput in = prepare_eval(bank, bank.data, {}, {{"chat", AnswerKind::kText}}, 50, true);
  add_cross_fitted_rankers(in, 42);
  ASSERT_EQ(in.ranker_of_row.size(), bank.size());
  const AnswerRanker& held_out = in.rankers[in.ranker_of_row[17]];
  const AnswerRanker everything = train_ranker(bank, ranker_training(in));
  ASSERT_TRUE(held_out.trained());
  const size_t code = 4;
  ASSERT_STREQ(ranker_feature_names()[code], "code");
  EXPECT_EQ(held_out.weights[code], 0.0) << "row 17's ranker was fitted on row 17";
  EXPECT_GT(everything.weights[code], 0.0);
  // Row 17's own answers: the held-out ranker picks 'long', as everywhere else.
  const Record& r17 = bank.data.records[17];
  const std::vector<std::string_view> replies = {r17.responses[0], r17.responses[1]};
  const std::vector<double> prior = {0.5, 0.5};
  const auto f = answer_features(replies, prior, consensus_scores(replies, prior));
  EXPECT_GT(held_out.score(f[0]), held_out.score(f[1]));
  EXPECT_LT(everything.score(f[0]) - everything.score(f[1]),
            held_out.score(f[0]) - held_out.score(f[1]))
      << "in sample, row 17 pulls its own answer up";
}

// Eval hands the posterior each free-text reply whole, as the gateway does: a ranker that
// reads lists sees them (it once saw the normalised words, which have no lists, and eval
// measured a different ranker from the one serve runs).
TEST(Ranker, EvalRanksTheWholeReplyAsTheGatewayDoes) {
  Dataset bank_data{{"flat", "listy"}, {}};
  for (int i = 0; i < 20; ++i) {
    Record r;
    r.id = "b" + std::to_string(i);
    r.task = "chat";
    r.question = "how do I make tea " + std::to_string(i);
    r.scores = {0.6f, 0.4f};  // the prior ranks "flat" first
    r.responses = {"boil water add tea", "- boil water\n- add tea"};
    bank_data.records.push_back(r);
  }
  const PriorBank bank = build_bank(bank_data);
  Dataset test{{"flat", "listy"}, {}};
  Record q;
  q.id = "t";
  q.task = "chat";
  q.question = "how do I make tea";
  q.scores = {0.0f, 1.0f};
  q.responses = {"boil water add tea", "- boil water\n- add tea"};  // the same words
  test.records.push_back(q);
  const EvalInput in = prepare_eval(bank, test, {}, {{"chat", AnswerKind::kText}}, 50);
  SmacsParams p;
  p.k = 2;
  p.p_drop = 0;
  p.posterior.text_rule = TextRule::kRanker;
  ASSERT_STREQ(ranker_feature_names()[1], "lists");
  p.ranker.weights[1] = 5.0;  // lists win
  p.ranker.pairs = p.ranker.questions = 1;
  const EvalReport report = run_eval(in, p);
  ASSERT_EQ(report.tasks.size(), 1u);
  EXPECT_EQ(report.tasks[0].accuracy.at("smacs"), 100.0) << "the ranker did not see the list";
}

// Tuning chooses one text rule for all the free-text tasks, by their pooled score (a task's
// own best of a dozen points is mostly luck): here the answer with a list is always the
// better one, which the prior cannot know and the ranker learns.
TEST(Ranker, TuningChoosesOneTextRuleForEveryFreeTextTask) {
  Dataset d{{"a", "b"}, {}};
  for (int i = 0; i < 120; ++i) {
    Record r;
    r.id = "q" + std::to_string(i);
    r.task = i % 2 ? "chat" : "advice";
    r.question = "question " + std::to_string(i) + " about " + std::to_string(i % 9);
    const bool a_wins = i % 5 < 3;  // "a" is the stronger model, "b" wins 2 in 5
    const std::string listed = "- first point " + std::to_string(i) + "\n- second point";
    const std::string plain = "first point " + std::to_string(i) + " second point";
    r.scores = {a_wins ? 1.0f : 0.0f, a_wins ? 0.0f : 1.0f};
    r.responses = {a_wins ? listed : plain, a_wins ? plain : listed};
    d.records.push_back(r);
  }
  const PriorBank bank = build_bank(d);
  const std::map<std::string, AnswerKind> kinds = {{"chat", AnswerKind::kText},
                                                   {"advice", AnswerKind::kText}};
  const SmacsParams tuned = tune_params(bank, {}, kinds, SmacsParams{});
  EXPECT_NE(tuned.posterior.text_rule, TextRule::kHybrid);
  EXPECT_TRUE(tuned.per_task.empty()) << "each task chose on its own";
  EXPECT_TRUE(tuned.ranker.trained());
}

// `serve` over replay-serve of AlpacaEval: a free-text question answered by the ranker's
// choice, whose scores and rule are in the trace; a bank without judged text says it fell back.
TEST(RankerGateway, AnswersFreeTextByTheRankersChoice) {
  const Dataset all = load_file(data_file("alpacaeval/alpacaeval.jsonl.gz"));
  const std::vector<std::string> pool = {"FuseChat-Gemma-2-9B-Instruct",
                                         "FuseChat-Qwen-2.5-7B-Instruct",
                                         "FuseChat-Llama-3.1-8B-Instruct"};
  Dataset bank_data{all.models, {}}, test{all.models, {}};
  for (const auto& r : all.records)
    (test.records.size() < 10 && fold_of(r.id, 5) == 0 ? test : bank_data).records.push_back(r);
  auto replay = serve_replay(all);
  std::vector<std::pair<std::string, std::string>> backends;
  for (const auto& m : pool) backends.emplace_back(m, url(replay->port));
  auto adjust = [](ServerConfig& c) {
    c.params.k = 3;
    c.params.p_drop = 0;
    c.params.posterior.text_rule = TextRule::kRanker;
  };
  GatewayFixture gw(backends, 10000, 10000, {}, {}, adjust, &bank_data);
  auto client = gw.client();
  for (const auto& r : test.records) {
    auto res =
        client.Post("/v1/chat/completions", chat("smacs", r.question).dump(), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    const json trace = json::parse(res->body)["smacs"];
    EXPECT_EQ(trace["text_rule"], "ranker") << trace.dump();
    const json& post = trace["posterior_scores"];
    ASSERT_EQ(post.size(), 3u) << trace.dump();
    std::string best;
    for (const auto& [model, s] : post.items()) {
      ASSERT_TRUE(s.contains("ranker") && s.contains("consensus")) << s.dump();
      if (best.empty() || s["ranker"] > post[best]["ranker"]) best = model;
    }
    EXPECT_EQ(trace["chosen"], best);
  }
  // A bank of scores only (no judged text): the hybrid decides, and the trace says so.
  Dataset scores_only = bank_data;
  for (auto& r : scores_only.records)
    for (auto& s : r.responses) s.clear();
  GatewayFixture bare(backends, 10000, 10000, {}, {}, adjust, &scores_only);
  auto res = bare.client().Post("/v1/chat/completions",
                                chat("smacs", test.records[0].question).dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const std::string rule = json::parse(res->body)["smacs"]["text_rule"];
  EXPECT_TRUE(rule.starts_with("hybrid (")) << rule;
}

}  // namespace
}  // namespace smacs::test
