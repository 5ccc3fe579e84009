// The trained routers (router_knn, router_mlp, router_mf): they learn which model answers
// which kind of question, they are seeded, they never see the question they score in
// cross-validation, and eval reports them (and runs SMACS's posterior on top of one).
#include "router/router.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "bank/prior_bank.h"
#include "eval/evaluate.h"
#include "test_util.h"

using namespace smacs;

namespace {

// Two kinds of questions with their own vocabulary: "arith" is answered by model 0 and
// "words" by model 1 (with some noise); model 2 is right half the time everywhere.
Dataset two_kinds(size_t per_kind, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> n(1, 99);
  std::bernoulli_distribution noise(0.1), coin(0.5);
  const char* verbs[] = {"add", "sum", "plus", "compute", "total"};
  const char* words[] = {"synonym", "define", "antonym", "meaning", "spell"};
  Dataset d;
  d.models = {"math", "words", "coin"};
  // Built by append: GCC 12 warns falsely (-Wrestrict) on chains of string operator+.
  auto text = [](std::initializer_list<std::string> parts) {
    std::string out;
    for (const auto& p : parts) out.append(p);
    return out;
  };
  auto row = [&](std::string id, const char* task, std::string q, std::vector<float> scores) {
    Record r;
    r.id = std::move(id);
    r.task = task;
    r.question = std::move(q);
    r.scores = std::move(scores);
    d.records.push_back(std::move(r));
  };
  for (size_t i = 0; i < per_kind; ++i) {
    const std::string k = std::to_string(i);
    row(text({"a", k}), "arith",
        text({verbs[i % 5], " ", std::to_string(n(rng)), " and ", std::to_string(n(rng)),
              " numbers arithmetic"}),
        {noise(rng) ? 0.f : 1.f, 0.f, static_cast<float>(coin(rng))});
    row(text({"w", k}), "words",
        text({words[i % 5], " the word ", std::to_string(n(rng)), " vocabulary dictionary"}),
        {0.f, noise(rng) ? 0.f : 1.f, static_cast<float>(coin(rng))});
  }
  return d;
}

size_t argmax(const std::vector<double>& v) {
  return static_cast<size_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace

TEST(Router, EachLearnsWhichModelAnswersWhichQuestions) {
  const PriorBank bank = build_bank(two_kinds(120, 1));
  const Dataset test = two_kinds(40, 2);
  for (RouterKind kind : kRouterKinds) {
    const TrainedRouter r = train_router(kind, bank);
    EXPECT_FALSE(r.fitted.empty());
    size_t right = 0;
    for (const auto& q : test.records) {
      const auto scores = r.predict(bank.embedder->embed(q.question), kNoRow);
      ASSERT_EQ(scores.size(), 3u);
      right += argmax(scores) == (q.task == "arith" ? 0u : 1u);
    }
    EXPECT_GE(right, test.records.size() * 95 / 100) << router_name(kind) << ": " << r.fitted;
  }
}

TEST(Router, SeededTrainingGivesTheSameRouter) {
  const PriorBank bank = build_bank(two_kinds(60, 3));
  const SparseVec q = bank.embedder->embed("add 5 and 7 numbers arithmetic");
  for (RouterKind kind : {RouterKind::kMlp, RouterKind::kMf}) {
    RouterOptions o;
    o.seed = 9;
    const auto a = train_router(kind, bank, o).predict(q, kNoRow);
    const auto b = train_router(kind, bank, o).predict(q, kNoRow);
    EXPECT_EQ(a, b) << router_name(kind);
    o.seed = 10;
    EXPECT_NE(train_router(kind, bank, o).predict(q, kNoRow), a) << router_name(kind);
  }
  EXPECT_EQ(parse_router_name("router_mf"), RouterKind::kMf);
  EXPECT_FALSE(parse_router_name("router_svm"));
}

// The networks read the bank's most frequent terms only (issue 30: training in seconds on
// RouterDC's 50k terms): the cap holds, and the terms that tell the kinds apart survive it.
TEST(Router, NetworksReadOnlyTheMostFrequentTerms) {
  const PriorBank bank = build_bank(two_kinds(120, 1));
  const Dataset test = two_kinds(40, 2);
  RouterOptions o;
  o.max_inputs = 12;
  for (RouterKind kind : {RouterKind::kMlp, RouterKind::kMf}) {
    const TrainedRouter r = train_router(kind, bank, o);
    EXPECT_NE(r.fitted.find(", 12 input terms"), std::string::npos) << r.fitted;
    size_t right = 0;
    for (const auto& q : test.records)
      right += argmax(r.predict(bank.embedder->embed(q.question), kNoRow)) ==
               (q.task == "arith" ? 0u : 1u);
    EXPECT_GE(right, test.records.size() * 90 / 100) << router_name(kind) << ": " << r.fitted;
  }
  EXPECT_EQ(RouterOptions{}.max_inputs, 4096u);
}

// In cross-validation on the bank a row is scored by routers that never saw it: a bank whose
// labels are pure noise must not look predictable (an in-sample router would memorise it).
TEST(Router, CrossValidationScoresAreOutOfSample) {
  Dataset noise = two_kinds(80, 4);
  std::mt19937_64 rng(5);
  std::bernoulli_distribution coin(0.5);
  for (auto& r : noise.records)
    for (auto& s : r.scores) s = coin(rng);
  const PriorBank bank = build_bank(std::move(noise));
  EvalInput in = prepare_eval(bank, bank.data, {}, {}, 50, /*leave_one_out=*/true);
  add_routers(in, {"router_knn", "router_mlp", "router_mf"}, /*leave_one_out=*/true, 42);
  const EvalReport rep = run_eval(in, SmacsParams{});
  for (const char* name : {"router_knn", "router_mlp", "router_mf"}) {
    EXPECT_LT(rep.average.at(name), 62.0) << name << " looks better than chance on noise";
    EXPECT_GT(rep.router_seconds.at(name), 0.0);
  }
}

TEST(Router, EvalReportsTheRoutersAndRunsTheirPriorUnderSmacs) {
  const std::string dir = test::temp_path("routers");
  std::filesystem::create_directories(dir);
  const auto report = dir + "/r.json";
  const std::string data = test::data_file("zeroeval/gsm") + " " + test::data_file("zeroeval/crux");
  auto r = test::run_smacs("eval --test " + data + " --folds 2 --report " + report);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto json = nlohmann::json::parse(std::ifstream(report));
  for (const char* name : {"router_knn", "router_mlp", "router_mf"}) {
    EXPECT_TRUE(json["average"].contains(name)) << name;
  }
  EXPECT_NE(r.output.find("trained routers"), std::string::npos);
  EXPECT_NE(r.output.find("routers trained in"), std::string::npos);  // the time, on stderr
  r = test::run_smacs("eval --test " + data +
                      " --folds 2 --no-routers --prior router_knn --report " + report);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json = nlohmann::json::parse(std::ifstream(report));
  EXPECT_EQ(json["params"]["prior"], "router_knn");
  EXPECT_TRUE(json["average"].contains("router_knn"));  // the prior is reported too
  EXPECT_FALSE(json["average"].contains("router_mlp"));
  EXPECT_NE(test::run_smacs("eval --test " + data + " --folds 2 --prior router_svm").exit_code, 0);
}
