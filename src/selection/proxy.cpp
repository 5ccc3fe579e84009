#include "selection/proxy.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace smacs {

namespace {
constexpr size_t kPaperK = 400;       // method.md: K = min(400, bank size - 1)
constexpr double kPaperShare = 0.95;  // counted: sim > 0.95 x the K-th largest
constexpr size_t kPaperDepth = 4000;  // retrieved for it: far enough past the K-th
}  // namespace

size_t RpsParams::retrieval_depth() const {
  const size_t own = std::max(neighbors * 4, task_vote);
  return rule == ProxyRule::kPaper ? std::max(own, kPaperDepth) : own;
}

ProxyRule parse_proxy_rule(const std::string& name) {
  if (name == "smacs") return ProxyRule::kSmacs;
  if (name == "smcs" || name == "paper") return ProxyRule::kPaper;
  throw Error("unknown proxy rule '" + name + "' (expected smacs or smcs, the paper's)");
}

std::string to_string(ProxyRule rule) { return rule == ProxyRule::kPaper ? "smcs" : "smacs"; }

namespace {

// Weighted share of each bank task among the first `vote` neighbours.
std::vector<double> task_shares(const PriorBank& bank, std::span<const Neighbor> nb,
                                const RpsParams& p) {
  std::vector<double> share(bank.tasks.size(), 0.0);
  double total = 0;
  for (size_t i = 0; i < std::min(p.task_vote, nb.size()); ++i) {
    const double w = std::exp((nb[i].sim - nb[0].sim) / p.task_tau);  // shifted: no overflow
    share[bank.task_of[nb[i].row]] += w;
    total += w;
  }
  if (total > 0)
    for (double& s : share) s /= total;
  return share;
}

// The paper's similarity-weighted count of correct answers over the neighbours above its
// threshold.
void paper_scores(const PriorBank& bank, std::span<const Neighbor> nb, const std::vector<int>& pool,
                  Proxy& out) {
  if (nb.empty() || bank.size() < 2) return;
  const size_t k = std::min(kPaperK, bank.size() - 1);
  const double kth = 100.0 * nb[std::min(k, nb.size() - 1)].sim;
  for (size_t j = 0; j < pool.size(); ++j) {
    if (pool[j] < 0) continue;
    double p = 0;
    for (const auto& n : nb) {
      const double sim = 100.0 * n.sim;
      if (!(sim > kPaperShare * kth)) break;  // best first: the rest are below too
      const float s = bank.data.records[n.row].scores[static_cast<size_t>(pool[j])];
      if (!is_missing(s)) p += sim / 100.0 * s;
    }
    out.score[j] = p;
  }
}

}  // namespace

Proxy proxy_scores(const PriorBank& bank, std::span<const Neighbor> nb,
                   const std::vector<int>& pool, const RpsParams& p) {
  Proxy out;
  out.score.assign(pool.size(), 0.0);
  out.cost.assign(pool.size(), std::nullopt);
  const auto share = task_shares(bank, nb, p);
  if (!share.empty() && !nb.empty()) {
    out.task = static_cast<int>(std::max_element(share.begin(), share.end()) - share.begin());
  }
  if (p.rule == ProxyRule::kPaper) {
    paper_scores(bank, nb, pool, out);
    for (size_t j = 0; j < pool.size(); ++j)
      if (pool[j] >= 0 && !is_missing(bank.global_cost[static_cast<size_t>(pool[j])]))
        out.cost[j] = bank.global_cost[static_cast<size_t>(pool[j])];
    return out;
  }
  // The neighbours averaged and their weights, the same for every model.
  std::vector<std::pair<const Record*, double>> used;
  for (const auto& n : nb) {
    if (used.size() == p.neighbors) break;
    if (p.task_gate && static_cast<int>(bank.task_of[n.row]) != out.task) continue;
    used.emplace_back(&bank.data.records[n.row], std::exp(n.sim / p.tau));
  }
  for (size_t j = 0; j < pool.size(); ++j) {
    const int m = pool[j];
    if (m < 0) continue;  // a pool model with no results in the bank yet: no evidence, proxy 0
    double num = 0, den = 0, cost_num = 0, cost_den = 0;
    for (const auto& [r, w] : used) {
      if (!r->costs.empty() && !is_missing(r->costs[m])) {
        cost_num += w * r->costs[m];
        cost_den += w;
      }
      if (is_missing(r->scores[m])) continue;
      num += w * r->scores[m];
      den += w;
    }
    if (cost_den > 0)
      out.cost[j] = cost_num / cost_den;
    else if (!is_missing(bank.global_cost[m]))
      out.cost[j] = bank.global_cost[m];
    double task_num = 0, task_den = 0;  // the task mean, mixed by the neighbours' task shares
    for (size_t t = 0; t < share.size(); ++t) {
      const float tm = bank.task_mean[t][m];
      if (share[t] <= 0 || is_missing(tm)) continue;
      task_num += share[t] * tm;
      task_den += share[t];
    }
    if (task_den > 0) {
      num += p.beta * task_num / task_den;
      den += p.beta;
    }
    if (!is_missing(bank.global_mean[m])) {
      num += p.gamma * bank.global_mean[m];
      den += p.gamma;
    }
    out.score[j] = den > 0 ? num / den : 0.0;
  }
  return out;
}

std::vector<double> rank_scores(const Proxy& proxy, double cost_weight) {
  std::vector<double> rank = proxy.score;
  double most = 0;
  for (const auto& c : proxy.cost) most = std::max(most, c.value_or(0.0));
  if (cost_weight <= 0 || most <= 0) return rank;
  for (size_t j = 0; j < rank.size(); ++j)
    rank[j] -= cost_weight * proxy.cost[j].value_or(0.0) / most;
  return rank;
}

}  // namespace smacs
