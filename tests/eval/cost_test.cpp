// Cost-aware SMACS: adaptive rounds, escalation, cost in reports, budgets and the frontier.
#include <gtest/gtest.h>

#include "eval/folds.h"
#include "eval/frontier.h"
#include "eval/report.h"
#include "gateway_fixture.h"
#include "pipeline/smacs.h"

using namespace smacs;
using namespace smacs::test;

namespace {

// A plan over `n` models ranked in pool order with the given proxy scores.
Plan plan_of(std::vector<double> proxy) {
  Plan p;
  p.proxy.score = proxy;
  p.proxy.cost.assign(proxy.size(), std::nullopt);
  p.selection = select_models(proxy, proxy.size(), 0, 0);
  p.k = proxy.size();
  return p;
}

// Runs the rounds over fixed replies, counting the models asked.
Rounds replay(const Plan& plan, const SmacsParams& params, std::vector<std::string> replies) {
  return run_rounds(
      plan, params,
      [&](size_t from, size_t to) {
        std::vector<std::optional<std::string>> out;
        for (size_t i = from; i < to; ++i) out.emplace_back(replies[i]);
        return out;
      },
      [](const auto&) { return AnswerKind::kNumber; });
}

}  // namespace

TEST(Adaptive, StopsAsSoonAsTheAnswersSettle) {
  SmacsParams p;
  p.k = 4;
  p.adaptive.enabled = true;
  const Plan plan = plan_of({0.9, 0.8, 0.7, 0.6});
  // The first two agree: two calls, settled.
  Rounds r = replay(plan, p, {"The answer is 12", "12", "7", "9"});
  EXPECT_EQ(r.asked(), 2u);
  EXPECT_EQ(r.rounds, 1u);
  EXPECT_TRUE(r.settled);
  // They disagree; the third sides with the second: three calls.
  r = replay(plan, p, {"5", "12", "12", "9"});
  EXPECT_EQ(r.asked(), 3u);
  EXPECT_TRUE(r.settled);
  EXPECT_EQ(r.choice->member, 1);
  // Nobody agrees: all four asked, unsettled (where escalation would step in).
  r = replay(plan, p, {"1", "2", "3", "4"});
  EXPECT_EQ(r.asked(), 4u);
  EXPECT_EQ(r.rounds, 3u);
  EXPECT_FALSE(r.settled);
  // Off: one round of all k, as before.
  p.adaptive.enabled = false;
  r = replay(plan, p, {"12", "12", "12", "12"});
  EXPECT_EQ(r.asked(), 4u);
  EXPECT_EQ(r.rounds, 1u);
  // Solo: the top model alone when its proxy clears the bar.
  p.adaptive.enabled = true;
  p.adaptive.solo = 0.85;
  r = replay(plan, p, {"12", "13", "14", "15"});
  EXPECT_EQ(r.asked(), 1u);
  EXPECT_TRUE(r.settled);
  // ... unless its reply has no answer to read: then the rounds go on.
  r = replay(plan, p, {"I am not sure", "13", "13", "15"});
  EXPECT_EQ(r.asked(), 3u);
  EXPECT_EQ(r.choice->member, 1);
  // Two of three agreeing hold (0.9 + 0.7) / 2.4 = 0.67 of the prior weight: settled at
  // 0.6, not at 0.9, where all four are asked.
  p.adaptive.solo = 2;
  r = replay(plan, p, {"12", "7", "12", "8"});
  EXPECT_EQ(r.asked(), 3u);
  p.adaptive.settle = 0.9;
  r = replay(plan, p, {"12", "7", "12", "8"});
  EXPECT_EQ(r.asked(), 4u);
  EXPECT_FALSE(r.settled);
}

// Judged free text: no proxy score is high, but the top model can still lead by far.
TEST(Adaptive, ALeadOverTheNextModelAsksTheTopModelAlone) {
  SmacsParams p;
  p.k = 3;
  p.adaptive.enabled = true;
  p.adaptive.solo_margin = 0.1;
  auto text = [](const auto&) { return AnswerKind::kText; };
  auto ask_all = [](size_t from, size_t to) {  // written answers that never agree
    std::vector<std::optional<std::string>> out;
    for (size_t i = from; i < to; ++i)
      out.emplace_back("Written answer number " + std::to_string(i));
    return out;
  };
  // 0.35 leads 0.2 by 0.15: one call.
  Rounds r = run_rounds(plan_of({0.35, 0.2, 0.1}), p, ask_all, text);
  EXPECT_EQ(r.asked(), 1u);
  EXPECT_TRUE(r.settled);
  // 0.35 leads 0.3 by 0.05: the rounds as before (free text never agrees: all three).
  r = run_rounds(plan_of({0.35, 0.3, 0.1}), p, ask_all, text);
  EXPECT_EQ(r.asked(), 3u);
  // One selected model has no lead to show: asked as before, and (free text) not settled, so an
  // escalation model would still be asked.
  p.adaptive.solo_margin = 0.0;
  r = run_rounds(plan_of({0.35}), p, ask_all, text);
  EXPECT_EQ(r.asked(), 1u);
  EXPECT_FALSE(r.settled);
  // The default (2.0) never asks one model for its lead.
  p.adaptive.solo_margin = 2.0;
  r = run_rounds(plan_of({0.35, 0.0, 0.0}), p, ask_all, text);
  EXPECT_EQ(r.asked(), 3u);
}

TEST(Adaptive, ScoreOnlyDataNeedsOneCall) {
  SmacsParams p;
  p.k = 3;
  p.adaptive.enabled = true;
  // No texts: agreement cannot change the prior's choice, so more calls would be waste.
  const Rounds r = replay(plan_of({0.9, 0.8, 0.7}), p, {"", "", ""});
  EXPECT_TRUE(r.settled);
  EXPECT_EQ(r.asked(), 2u);  // the first round still goes out at once
}

TEST(Frontier, AiqIsTheNormalisedAreaUnderTheHull) {
  // One point at cost 1 with accuracy 80 % over [0, 2]: 0 below it, 0.8 after: 0.4.
  EXPECT_NEAR(aiq({{.accuracy = 80, .cost = 1}}, 0, 2), 0.4, 1e-3);
  // A dominated point changes nothing; a line from (0, 50 %) to (2, 100 %) averages 0.75.
  EXPECT_NEAR(aiq({{.accuracy = 50, .cost = 0},
                   {.accuracy = 100, .cost = 2},
                   {.accuracy = 60, .cost = 1.5}},
                  0, 2),
              0.75, 1e-3);
}

TEST(CostReport, UsdOnRouterBenchCallsOnZeroEval) {
  const PriorBank bank = build_bank(load_file(rb("train")));
  const Dataset test = load_file(rb("test"));
  SmacsParams p;
  p.adaptive.enabled = true;
  EvalInput in = prepare_eval(bank, test, kOpenPool, {}, p.rps.retrieval_depth());
  set_escalation(in, "gpt-4-1106-preview");
  const EvalReport rep = run_eval(in, p);
  EXPECT_EQ(rep.cost_unit, "usd");
  const auto& cost = rep.average_cost;
  // Three models cost more than the best of them alone, less than all six; adaptive less.
  EXPECT_GT(cost.at("smacs"), cost.at("rps_top1"));
  EXPECT_LT(cost.at("smacs"), cost.at("vote"));
  EXPECT_LT(cost.at("smacs_adaptive"), cost.at("smacs"));
  EXPECT_GT(cost.at("smacs_escalate"), cost.at("smacs_adaptive"));
  EXPECT_NEAR(rep.average_calls.at("smacs"), 3.0, 1e-9);
  EXPECT_NEAR(rep.average_calls.at("vote"), 6.0, 1e-9);
  EXPECT_NEAR(cost.at("zero-one-ai/Yi-34B-Chat") * 1000, 0.404, 0.01);  // USD per 1,000
  const auto json = report_to_json(rep);
  EXPECT_EQ(json["cost_unit"], "usd");
  EXPECT_TRUE(json["tasks"]["arc_challenge"]["cost"].contains("smacs_adaptive"));
  EXPECT_TRUE(json["average_cost"].contains("smacs_escalate"));
  EXPECT_EQ(json["escalate_to"], "gpt-4-1106-preview");
  EXPECT_THROW(set_escalation(in, "no-such-model"), Error);

  // ZeroEval has no costs: calls, and the adaptive mode asks fewer.
  const Dataset ze = load_file(test::data_file("zeroeval/math-l5"));
  const FoldSplit split = split_fold(ze, 0, 5);
  const PriorBank ze_bank = build_bank(split.bank);
  const EvalReport calls = run_eval(
      prepare_eval(ze_bank, split.test,
                   {"Mistral-Large-2", "deepseek-v2.5-0908", "Qwen2-72B-Instruct", "gemma-2-9b-it"},
                   {}, p.rps.retrieval_depth()),
      p);
  EXPECT_EQ(calls.cost_unit, "calls");
  EXPECT_NEAR(calls.average_cost.at("smacs"), 3.0, 1e-9);
  EXPECT_LT(calls.average_cost.at("smacs_adaptive"), 3.0);
  EXPECT_GE(calls.average_cost.at("smacs_adaptive"), 2.0);
}

TEST(CostReport, CostWeightBuysCheaperModels) {
  const PriorBank bank = build_bank(load_file(rb("train")));
  const Dataset test = load_file(rb("test"));
  SmacsParams p;
  const EvalInput in = prepare_eval(bank, test, {}, {}, p.rps.retrieval_depth());
  const double dear = run_eval(in, p).average_cost.at("rps_top1");
  p.rps.cost_weight = 0.5;
  const double cheap = run_eval(in, p).average_cost.at("rps_top1");
  EXPECT_LT(cheap, dear / 5);  // GPT-4 ($5/1k) gives way to Yi ($0.4/1k) and the like
}

// The gateway's rounds and escalation over replay-serve equal eval's on the same questions.
TEST(Gateway, AdaptiveAndEscalationThroughHttpEqualEval) {
  const Dataset all = load_file(test::data_file("zeroeval/math-l5"));
  const std::vector<std::string> open_pool = {"Mistral-Large-2", "deepseek-v2.5-0908",
                                              "Qwen2-72B-Instruct", "gemma-2-9b-it",
                                              "Meta-Llama-3.1-70B-Instruct"};
  const std::string closed = "gpt-4o-2024-08-06";
  Dataset bank_data{all.models, {}}, test{all.models, {}};
  for (const auto& r : all.records)
    (test.records.size() < 120 && fold_of(r.id, 3) == 0 ? test : bank_data).records.push_back(r);
  auto replay = test::serve_replay(all);
  std::vector<std::pair<std::string, std::string>> pool;
  for (const auto& m : open_pool) pool.emplace_back(m, url(replay->port));
  pool.emplace_back(closed, url(replay->port));
  GatewayFixture gw(
      pool, 5000, 5000, {}, {},
      [&](ServerConfig& c) {
        c.params.k = 4;
        c.params.adaptive.enabled = true;
        c.escalate_to = closed;
      },
      &bank_data);
  auto client = gw.client();
  double sum = 0;
  size_t calls = 0, escalations = 0, two_calls = 0;
  for (const auto& r : test.records) {
    auto res =
        client.Post("/v1/chat/completions", chat("smacs", r.question).dump(), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    const json trace = json::parse(res->body)["smacs"];
    const size_t asked = trace["latency_ms"].size();
    calls += asked;
    const bool escalated = !trace["escalated_to"].is_null();
    escalations += escalated;
    if (escalated) {
      EXPECT_NE(trace["stopped"], "settled");
      EXPECT_EQ(trace["chosen"], closed);
    } else if (trace["rounds"] == 1) {  // settled at once: the first two agreed
      EXPECT_EQ(asked, 2u);
      ++two_calls;
      const auto& post = trace["posterior_scores"];
      EXPECT_EQ(post.begin()->at("answer"), std::next(post.begin())->at("answer"));
    }
    EXPECT_FALSE(trace["selected"].dump().find(closed) != std::string::npos);
    sum += r.scores[test.model_index(trace["chosen"].get<std::string>())];
  }
  EXPECT_LT(calls, 4 * test.records.size());  // fixed k = 4: 480 calls
  EXPECT_GT(two_calls, test.records.size() / 4);
  EXPECT_GT(escalations, 0u);
  EXPECT_LT(escalations, test.records.size() / 2);

  const PriorBank bank = build_bank(bank_data);
  EvalInput in = prepare_eval(bank, test, open_pool, {}, gw.config.params.rps.retrieval_depth());
  set_escalation(in, closed);
  const EvalReport rep = run_eval(in, gw.config.params);
  EXPECT_NEAR(100.0 * sum / static_cast<double>(test.records.size()),
              rep.tasks.front().accuracy.at("smacs_escalate"), 1e-9);
  EXPECT_NEAR(static_cast<double>(calls) / static_cast<double>(test.records.size()),
              rep.average_calls.at("smacs_escalate"), 1e-9);

  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("smacs_answer_rounds_total{rounds=\"1\",stop=\"settled\"}"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("event=\"escalated\",model=\"" + closed + "\"} " +
                               std::to_string(escalations)),
            std::string::npos);
}

TEST(Gateway, BudgetCapsWhatOneRequestMaySpend) {
  auto replay = start_replay();
  std::vector<std::pair<std::string, std::string>> pool;
  for (const auto& m : kOpenPool) pool.emplace_back(m, url(replay->port));
  pool.emplace_back("gpt-4-1106-preview", url(replay->port));
  GatewayFixture gw(pool, 5000, 5000, {}, {}, [](ServerConfig& c) { c.params.p_drop = 0; });
  auto client = gw.client();
  const Dataset test = load_file(rb("test"));
  const std::string q = test.records[3].question;
  json body = chat("smacs", q);
  auto res = client.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_EQ(res->status, 200);
  const json free = json::parse(res->body)["smacs"];
  ASSERT_EQ(free["selected"].size(), 3u);
  EXPECT_NE(free["selected"].dump().find("gpt-4"), std::string::npos);  // the best, and dearest

  body["smacs"] = {{"max_cost_usd", 0.001}};  // GPT-4 is ~$0.005 a question here
  res = client.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_EQ(res->status, 200) << res->body;
  const json capped = json::parse(res->body)["smacs"];
  EXPECT_EQ(capped["selected"].dump().find("gpt-4"), std::string::npos);
  EXPECT_GE(capped["selected"].size(), 1u);

  body["smacs"] = {{"max_cost_usd", 0}};
  res = client.Post("/v1/chat/completions", body.dump(), "application/json");
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("max_cost_usd"), std::string::npos);
  body["smacs"] = {{"max_cost_usd", -1}};
  EXPECT_EQ(client.Post("/v1/chat/completions", body.dump(), "application/json")->status, 400);
  body["smacs"] = {{"budget", 1}};
  EXPECT_EQ(client.Post("/v1/chat/completions", body.dump(), "application/json")->status, 400);

  body.erase("smacs");  // the header does the same
  httplib::Headers h = {{"x-smacs-max-cost-usd", "0.001"}};
  res = client.Post("/v1/chat/completions", h, body.dump(), "application/json");
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(json::parse(res->body)["smacs"]["selected"], capped["selected"]);
  h = {{"x-smacs-max-cost-usd", "lots"}};
  EXPECT_EQ(client.Post("/v1/chat/completions", h, body.dump(), "application/json")->status, 400);
}

// examples/cost.yaml over replay-serve of the RouterBench test split: the frontier's operating
// point through real HTTP -- the accuracy and cost eval reports, >= 93 % at <= 30 % of GPT-4's.
TEST(Gateway, TheCostExampleAnswersAsEvalSays) {
  const ServerConfig example = load_server_config(test::data_file("../examples/cost.yaml"));
  ASSERT_EQ(example.escalate_to, "gpt-4-1106-preview");
  ASSERT_TRUE(example.params.adaptive.enabled);
  auto replay = start_replay();
  std::vector<std::pair<std::string, std::string>> pool;
  std::vector<std::string> open_rounds;  // every pool model but the escalation one
  for (const auto& b : example.pool) {
    pool.emplace_back(b.name(), url(replay->port));
    if (b.name() != example.escalate_to) open_rounds.push_back(b.name());
  }
  GatewayFixture gw(pool, 5000, 5000, {}, {}, [&](ServerConfig& c) {
    c.params = example.params;
    c.escalate_to = example.escalate_to;
  });
  // Questions whose prompt is unique: replay-serve answers a repeated prompt from whichever
  // record has a result, where eval counts this record's missing result as a failed call.
  const Dataset all = load_file(rb("test"));
  std::map<std::string, int> seen;
  for (const auto& r : all.records) ++seen[r.question];
  Dataset test{all.models, {}};
  for (const auto& r : all.records)
    if (seen[r.question] == 1) test.records.push_back(r);
  ASSERT_GT(test.records.size(), 400u);
  auto client = gw.client();
  double score = 0, cost = 0;
  size_t n = 0, failed = 0;
  for (const auto& r : test.records) {
    auto res =
        client.Post("/v1/chat/completions", chat("smacs", r.question).dump(), "application/json");
    ASSERT_TRUE(res);
    ++n;
    if (res->status != 200) {  // every model asked failed: wrong, as in eval (cost unknown here)
      ++failed;
      continue;
    }
    const json trace = json::parse(res->body)["smacs"];
    for (const auto& [model, ms] : trace["latency_ms"].items()) {
      const float c = r.costs[test.model_index(model)];
      cost += is_missing(c) ? 0.0 : c;
    }
    score += r.scores[test.model_index(trace["chosen"].get<std::string>())];
  }
  const PriorBank bank = build_bank(load_file(rb("train")));
  EvalInput in = prepare_eval(bank, test, open_rounds, {}, example.params.rps.retrieval_depth());
  set_escalation(in, example.escalate_to);
  const EvalReport rep = run_eval(in, example.params);
  const double accuracy = 100 * score / static_cast<double>(n);
  const double per_question = cost / static_cast<double>(n);
  EXPECT_NEAR(accuracy, rep.average.at("smacs_escalate"), 1e-9);
  EXPECT_LE(failed, 6u);  // the recorded data has no answer of the models asked there
  // A failed answer's calls are not in its reply: at most `failed` questions' worth of cost.
  EXPECT_NEAR(per_question, rep.average_cost.at("smacs_escalate"),
              1e-12 + static_cast<double>(failed) * 0.02 / static_cast<double>(n));
  std::printf("examples/cost.yaml over HTTP: %.2f %% at $%.3f per 1,000 questions (%zu)\n",
              accuracy, 1000 * per_question, n);
  EXPECT_GE(accuracy, 93.0);
  EXPECT_LE(per_question, 0.3 * 5.065e-3);  // GPT-4 alone: $5.065 per 1,000 questions
}
