// Per-task posterior parameters: tuning on a bank of several tasks fits k, dropping and alpha
// for each task, and a question takes those of the task its neighbourhood votes for.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "bank/prior_bank.h"
#include "eval/evaluate.h"
#include "pipeline/smacs.h"

using namespace smacs;

namespace {

// "arith" questions are answered right by m0 alone; "words" questions by m1 and m2 (m0 is
// right on half of them).
Dataset two_tasks() {
  Dataset d;
  d.models = {"m0", "m1", "m2"};
  for (int i = 0; i < 40; ++i) {
    const std::string n = std::to_string(i);
    Record a;
    a.id = "a" + n;
    a.task = "arith";
    a.question.append("add the numbers ").append(n).append(" and seven arithmetic");
    a.gold = "1";
    a.grader = "number";
    a.scores = {1, 0, 0};
    a.responses = {"The answer is 1", "The answer is 2", "The answer is 3"};
    d.records.push_back(a);
    Record w;
    w.id = "w" + n;
    w.task = "words";
    w.question.append("define the word ").append(n).append(" vocabulary dictionary");
    w.gold = "5";
    w.grader = "number";
    const bool m0_right = i % 2 == 0;
    w.scores = {m0_right ? 1.f : 0.f, 1, 1};
    w.responses = {m0_right ? "The answer is 5" : "The answer is 4", "The answer is 5",
                   "The answer is 5"};
    d.records.push_back(w);
  }
  return d;
}

}  // namespace

TEST(PerTask, AQuestionTakesTheParamsOfItsVotedTask) {
  const PriorBank bank = build_bank(two_tasks());
  SmacsParams p;
  p.k = 1;
  p.p_drop = 0;
  p.per_task["words"] = {.k = 3, .p_drop = 0, .alpha = 0.3};
  const std::vector<int> pool = {0, 1, 2};
  auto plan_of = [&](const std::string& q) {
    return plan_from_neighbors(bank, retrieve(bank, q, p.rps), pool, p, q);
  };
  const Plan words = plan_of("define the word 77 vocabulary dictionary");
  EXPECT_EQ(bank.tasks[static_cast<size_t>(words.proxy.task)], "words");
  EXPECT_EQ(words.selection.selected.size(), 3u);
  EXPECT_EQ(words.posterior.alpha, 0.3);
  const Plan arith = plan_of("add the numbers 77 and seven arithmetic");
  EXPECT_EQ(arith.selection.selected.size(), 1u);
  EXPECT_EQ(arith.posterior.alpha, p.posterior.alpha);
  EXPECT_EQ(params_for_task(p, bank, -1).k, 1u);
}

TEST(PerTask, TuningFitsEachTaskOfTheBank) {
  const PriorBank bank = build_bank(two_tasks());
  const SmacsParams p = tune_params(bank, {}, {}, SmacsParams{});
  ASSERT_EQ(p.per_task.size(), 2u);
  EXPECT_TRUE(p.per_task.count("arith") && p.per_task.count("words"));
  const nlohmann::json j = params_to_json(p);
  EXPECT_EQ(j["per_task"]["words"]["k"], p.per_task.at("words").k);
  EXPECT_EQ(j["prior"], "rps");
}

// The gateway plans through the same function as eval, with the members it may ask: one left
// out (an open circuit) is neither ranked nor selected, and the others keep their order.
TEST(PerTask, APlanSelectsOnlyEligibleMembers) {
  const PriorBank bank = build_bank(two_tasks());
  SmacsParams p;
  p.k = 2;
  p.p_drop = 0;
  const std::vector<int> pool = {0, 1, 2};
  const std::string q = "add the numbers 77 and seven arithmetic";
  const Plan all = plan_from_neighbors(bank, retrieve(bank, q, p.rps), pool, p, q);
  ASSERT_EQ(all.selection.selected.front(), 0);  // m0 is the arithmetic model
  const Plan without_m0 =
      plan_from_neighbors(bank, retrieve(bank, q, p.rps), pool, p, q, Eligible{false, true, true});
  EXPECT_EQ(without_m0.selection.selected.size(), 2u);
  for (auto* members : {&without_m0.selection.ranked, &without_m0.selection.selected})
    EXPECT_EQ(std::count(members->begin(), members->end(), 0), 0);
  EXPECT_EQ(without_m0.proxy.score, all.proxy.score);  // the proxy still scores everyone
}
