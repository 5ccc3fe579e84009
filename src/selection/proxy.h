// Retrieval-based Prior Selection, part 1: proxy performance of each pool model.
//
//   P_m = (sum_i w_i s_im + beta * T_m + gamma * g_m) / (sum_i w_i + beta + gamma)
//
// with w_i = exp(sim_i / tau) over the question's neighbours, T_m the model's mean on the
// neighbourhood's task (the neighbours' task shares weight the task means), and g_m its
// global mean. Missing scores drop out of the sums. With `task_gate` only neighbours of the
// neighbourhood's majority task are averaged: on a mixed bank, neighbours from another task
// say little about this one.
//
// Cost-aware ranking: each model's expected cost per answer is averaged over the same
// neighbours (falling back to its bank-wide mean), and models are ranked by
// P_m - cost_weight * cost_m / max_j cost_j, so cost_weight is the accuracy (0..1) one would
// give up to avoid the most expensive model of the pool. The posterior still uses P_m.
//
// The paper's rule instead (`rule = kPaper`, `--proxy smcs`): sim_i = 100 cos; K = min(400, bank
// size - 1); every neighbour with sim_i > 0.95 x the K-th largest (0-based) counts, and
// P_m = sum_i (sim_i / 100) x score_im (missing: 0). No shrinkage, no gate.
#pragma once
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bank/prior_bank.h"

namespace smacs {

// How P_m is computed from the neighbours: smacs's shrunk, weighted mean, or the paper's
// similarity-weighted count of correct answers (method.md 1, [paper]).
enum class ProxyRule { kSmacs, kPaper };
ProxyRule parse_proxy_rule(const std::string& name);  // "smacs" | "smcs"
std::string to_string(ProxyRule rule);

struct RpsParams {
  ProxyRule rule = ProxyRule::kSmacs;
  size_t neighbors = 50;   // N: neighbours averaged
  double tau = 1.0;        // similarity temperature for w_i
  double beta = 30.0;      // shrinkage weight towards the neighbourhood's task mean
  double gamma = 1.0;      // shrinkage weight towards the model's global mean
  bool task_gate = true;   // average only neighbours of the majority task
  size_t task_vote = 30;   // neighbours that vote on the task
  double task_tau = 0.05;  // sharpness of the task vote
  double cost_weight = 0;  // lambda: 0 ranks by accuracy alone

  // How many neighbours to retrieve so that gating still leaves `neighbors` of one task.
  size_t retrieval_depth() const;
};

struct Proxy {
  std::vector<double> score;                // per pool member, same order as the pool
  std::vector<std::optional<double>> cost;  // expected USD per answer (nullopt: unknown)
  int task = -1;  // bank task the neighbourhood voted for (-1: empty bank)
};

// `pool` holds bank model columns (-1: not in the bank, proxy 0); `neighbors` come from the
// bank's index, best first.
Proxy proxy_scores(const PriorBank& bank, std::span<const Neighbor> neighbors,
                   const std::vector<int>& pool, const RpsParams& params);

// What selection ranks by: the proxy score less the cost penalty (= score when
// cost_weight is 0 or no cost is known).
std::vector<double> rank_scores(const Proxy& proxy, double cost_weight);

}  // namespace smacs
