#include <gtest/gtest.h>

#include <cmath>

#include "bank/prior_bank.h"
#include "core/error.h"
#include "selection/proxy.h"
#include "selection/select.h"

using namespace smacs;

namespace {
// Two tasks: model "math" is perfect on arithmetic, "words" on vocabulary; "avg" is 0.5 everywhere.
Dataset hand_made() {
  Dataset d;
  d.models = {"math", "words", "avg"};
  const char* arith[] = {"what is 2 plus 3", "what is 7 plus 5", "compute 9 plus 4",
                         "what is 6 plus 1"};
  const char* vocab[] = {"define the word serene", "define the word gloomy",
                         "synonym of the word happy", "define the word brave"};
  for (const char* q : arith)
    d.records.push_back({q, "arith", q, "", {1.0f, 0.0f, 0.5f}, {}, {}, "", ""});
  for (const char* q : vocab)
    d.records.push_back({q, "vocab", q, "", {0.0f, 1.0f, 0.5f}, {}, {}, "", ""});
  return d;
}
}  // namespace

TEST(Proxy, NeighboursDecideAndTaskIsVoted) {
  const PriorBank bank = build_bank(hand_made());
  RpsParams p;
  p.neighbors = 3;
  p.beta = 0;
  p.gamma = 0;
  const std::vector<int> pool = {0, 1, 2};
  const auto nb = bank.index->search(bank.embedder->embed("what is 8 plus 8"), p.retrieval_depth());
  const Proxy px = proxy_scores(bank, nb, pool, p);
  EXPECT_EQ(bank.tasks[px.task], "arith");
  EXPECT_NEAR(px.score[0], 1.0, 1e-9);
  EXPECT_NEAR(px.score[1], 0.0, 1e-9);
  EXPECT_NEAR(px.score[2], 0.5, 1e-9);
}

TEST(Proxy, ShrinkageFormula) {
  const PriorBank bank = build_bank(hand_made());
  RpsParams p;
  p.neighbors = 1;
  p.tau = 1.0;
  p.beta = 2.0;
  p.gamma = 1.0;
  p.task_gate = true;
  const std::vector<Neighbor> nb = {{0, 0.5f}};  // one arithmetic neighbour, sim 0.5
  const Proxy px = proxy_scores(bank, nb, {0, 1}, p);
  const double w = std::exp(0.5);
  // math: (w*1 + 2*task_mean(1) + 1*global(0.5)) / (w + 3)
  EXPECT_NEAR(px.score[0], (w * 1 + 2 * 1.0 + 0.5) / (w + 3), 1e-6);
  EXPECT_NEAR(px.score[1], (0 + 0 + 0.5) / (w + 3), 1e-6);
}

// The paper's rule (method.md 1): sim = 100 cos, K = min(400, n - 1) = 7 here, every neighbour
// with sim > 0.95 x the K-th largest (0-based) counts, P_m = sum (sim / 100) x score.
TEST(Proxy, ThePapersRuleOnASmallBank) {
  const PriorBank bank = build_bank(hand_made());  // 8 questions
  RpsParams p;
  p.rule = ProxyRule::kPaper;
  // Eight neighbours, best first; the 8th (index 7) has sim 0.40: the threshold is 0.38.
  const std::vector<Neighbor> nb = {{0, 0.90f}, {1, 0.80f}, {4, 0.70f}, {2, 0.60f},
                                    {5, 0.50f}, {3, 0.45f}, {6, 0.39f}, {7, 0.40f}};
  const Proxy px = proxy_scores(bank, nb, {0, 1, 2}, p);
  // rows 0-3 are arithmetic (math 1, words 0), 4-7 vocabulary (math 0, words 1); avg 0.5.
  EXPECT_NEAR(px.score[0], 0.90 + 0.80 + 0.60 + 0.45, 1e-6);
  EXPECT_NEAR(px.score[1], 0.70 + 0.50 + 0.39 + 0.40, 1e-6);
  EXPECT_NEAR(px.score[2], 0.5 * (0.90 + 0.80 + 0.70 + 0.60 + 0.50 + 0.45 + 0.39 + 0.40), 1e-6);
  // Past the K-th, a neighbour counts only above 95 % of its similarity (0.38 here).
  std::vector<Neighbor> deeper = nb;
  deeper.push_back({0, 0.381f});
  deeper.push_back({1, 0.379f});
  const Proxy d = proxy_scores(bank, deeper, {0, 1, 2}, p);
  EXPECT_NEAR(d.score[0], px.score[0] + 0.381, 1e-6);
  EXPECT_NEAR(d.score[1], px.score[1], 1e-6);
  EXPECT_EQ(parse_proxy_rule("smcs"), ProxyRule::kPaper);
  EXPECT_THROW(parse_proxy_rule("mean"), Error);
  EXPECT_GE(p.retrieval_depth(), 401u);  // deep enough to see the 401st neighbour
}

TEST(Proxy, MissingScoresDropOut) {
  Dataset d = hand_made();
  for (auto& r : d.records) r.scores[2] = kMissing;
  const PriorBank bank = build_bank(std::move(d));
  EXPECT_TRUE(is_missing(bank.global_mean[2]));
  RpsParams p;
  const auto nb =
      bank.index->search(bank.embedder->embed("define the word calm"), p.retrieval_depth());
  const Proxy px = proxy_scores(bank, nb, {0, 1, 2}, p);
  EXPECT_EQ(px.score[2], 0.0);  // no evidence at all
  EXPECT_GT(px.score[1], px.score[0]);
}

TEST(Select, TopKWithoutDropping) {
  const Selection s = select_models({0.1, 0.9, 0.5, 0.7}, 3, 0.0, 1);
  EXPECT_EQ(s.ranked, (std::vector<int>{1, 3, 2, 0}));
  EXPECT_EQ(s.selected, (std::vector<int>{1, 3, 2}));
  EXPECT_TRUE(s.dropped.empty());
}

TEST(Select, DroppingStatistics) {
  // k = 2 of 5, p_drop = 0.4: top-1 always stays; the second drops ~40% of the time and its
  // replacement comes from outside the top-k in proportion to the proxy (0.6 : 0.2 = 3 : 1).
  const std::vector<double> proxy = {0.9, 0.8, 0.6, 0.2, 0.0};
  const int trials = 20000;
  int drops = 0, top1_kept = 0, pick2 = 0, pick3 = 0, pick4 = 0;
  for (int t = 0; t < trials; ++t) {
    const Selection s = select_models(proxy, 2, 0.4, mix_seed(42, std::to_string(t)));
    ASSERT_EQ(s.selected.size(), 2u);
    ASSERT_EQ(s.dropped.size(), s.replacements.size());
    top1_kept += s.selected[0] == 0;
    drops += static_cast<int>(s.dropped.size());
    for (int r : s.replacements) pick2 += r == 2, pick3 += r == 3, pick4 += r == 4;
  }
  EXPECT_EQ(top1_kept, trials);
  EXPECT_NEAR(drops / double(trials), 0.4, 0.015);
  EXPECT_EQ(pick4, 0);  // zero proxy: never drawn while others have weight
  EXPECT_NEAR(pick2 / double(pick2 + pick3), 0.75, 0.02);
}

TEST(Select, SeededAndReproducible) {
  const std::vector<double> proxy = {0.9, 0.8, 0.7, 0.6, 0.5};
  const auto a = select_models(proxy, 3, 0.5, 123), b = select_models(proxy, 3, 0.5, 123);
  EXPECT_EQ(a.selected, b.selected);
  EXPECT_EQ(mix_seed(1, "q"), mix_seed(1, "q"));
  EXPECT_NE(mix_seed(1, "q"), mix_seed(2, "q"));
}
