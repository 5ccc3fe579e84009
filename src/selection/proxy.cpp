#include "selection/proxy.h"

#include <algorithm>
#include <cmath>

namespace smacs {

size_t RpsParams::retrieval_depth() const { return std::max(neighbors * 4, task_vote); }

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
