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
  const auto share = task_shares(bank, nb, p);
  if (!share.empty() && !nb.empty()) {
    out.task = static_cast<int>(std::max_element(share.begin(), share.end()) - share.begin());
  }
  for (size_t j = 0; j < pool.size(); ++j) {
    const int m = pool[j];
    if (m < 0) continue;  // a pool model with no results in the bank yet: no evidence, proxy 0
    double num = 0, den = 0;
    size_t used = 0;
    for (const auto& n : nb) {
      if (used == p.neighbors) break;
      if (p.task_gate && static_cast<int>(bank.task_of[n.row]) != out.task) continue;
      ++used;
      const float s = bank.data.records[n.row].scores[m];
      if (is_missing(s)) continue;
      const double w = std::exp(n.sim / p.tau);
      num += w * s, den += w;
    }
    double task_num = 0, task_den = 0;  // the task mean, mixed by the neighbours' task shares
    for (size_t t = 0; t < share.size(); ++t) {
      const float tm = bank.task_mean[t][m];
      if (share[t] > 0 && !is_missing(tm)) task_num += share[t] * tm, task_den += share[t];
    }
    if (task_den > 0) num += p.beta * task_num / task_den, den += p.beta;
    if (!is_missing(bank.global_mean[m])) num += p.gamma * bank.global_mean[m], den += p.gamma;
    out.score[j] = den > 0 ? num / den : 0.0;
  }
  return out;
}

}  // namespace smacs
