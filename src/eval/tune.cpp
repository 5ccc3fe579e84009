// --tune: leave-one-out cross-validation on the train bank only (never the test split).
//
// Many grid points fit the train data about equally well; the best CV score among them is
// partly luck. So the one-standard-error rule picks, among the points within one standard
// error of the best, the most conservative one (grids below are ordered most conservative
// first): more shrinkage, more and smoother neighbours, a posterior that trusts the prior.
#include <atomic>
#include <cmath>

#include "core/parallel.h"
#include "eval/evaluate.h"

namespace smacs {

namespace {

struct Scored {
  SmacsParams params;
  double score;     // the method's average accuracy, %
  double se;        // its standard error, %
  double cost = 0;  // the method's average cost per question
};

Scored score_of(const EvalInput& in, const SmacsParams& p, const std::string& method) {
  const EvalReport r = run_eval(in, p);
  const auto it = r.average.find(method);
  double var = 0;  // of the mean over tasks of per-task accuracies (scores in 0..1)
  for (const auto& t : r.tasks) {
    const double acc = t.accuracy.count(method) ? t.accuracy.at(method) / 100 : 0;
    var += acc * (1 - acc) / static_cast<double>(std::max<size_t>(t.n, 1));
  }
  const double tasks = static_cast<double>(std::max<size_t>(r.tasks.size(), 1));
  const auto cost = r.average_cost.find(method);
  return {p, it == r.average.end() ? -1.0 : it->second, 100 * std::sqrt(var) / tasks,
          cost == r.average_cost.end() ? 0.0 : cost->second};
}

// The first (most conservative) candidate within one standard error of the best.
const Scored& one_standard_error(const std::vector<Scored>& candidates) {
  const Scored* best = &candidates.front();
  for (const auto& c : candidates)
    if (c.score > best->score) best = &c;
  for (const auto& c : candidates)
    if (c.score >= best->score - best->se) return c;
  return *best;
}

// The cheapest adaptive setting that loses at most `max_loss` points against `fixed`.
SmacsParams cheapest_within(const std::vector<Scored>& candidates, double fixed, double max_loss) {
  const Scored* best = nullptr;
  for (const auto& c : candidates) {
    if (c.score < fixed - max_loss) continue;
    if (!best || c.cost < best->cost - 1e-12 ||
        (std::abs(c.cost - best->cost) <= 1e-12 && c.score > best->score))
      best = &c;
  }
  return best ? best->params : candidates.front().params;
}

}  // namespace

SmacsParams tune_params(const PriorBank& bank, const std::vector<std::string>& pool,
                        const std::map<std::string, AnswerKind>& kind_overrides, SmacsParams base,
                        const Progress& progress) {
  // Most conservative first.
  const std::vector<double> beta_grid = {100, 30, 10, 3, 0};
  const std::vector<size_t> neighbor_grid = {200, 100, 50, 25, 10};
  const std::vector<double> tau_grid = {1.0, 0.2, 0.05};
  const std::vector<bool> gate_grid = {true, false};
  const std::vector<double> alpha_grid = {0.9, 0.7, 0.5, 0.3, 0.1};
  const std::vector<size_t> k_grid = {2, 3, 4, 5};
  const std::vector<double> drop_grid = {0.0, 0.1, 0.2, 0.3};

  const AdaptiveParams adaptive = base.adaptive;
  base.adaptive.enabled = false;  // fitted last, on the fixed-k parameters
  RpsParams deepest = base.rps;
  deepest.neighbors = neighbor_grid.front();
  EvalInput in = prepare_eval(bank, bank.data, pool, kind_overrides, deepest.retrieval_depth(),
                              /*leave_one_out=*/true);
  in.methods_only = true;
  const bool has_text = bank.data.has_responses();
  const std::vector<double> solo_grid = {2.0,   0.98, 0.97,  0.965, 0.96, 0.955, 0.95,
                                         0.945, 0.94, 0.935, 0.93,  0.92, 0.9};
  const std::vector<double> settle_grid = {0.8, 0.6, 0.5};
  const size_t total =
      beta_grid.size() * neighbor_grid.size() * tau_grid.size() * gate_grid.size() +
      (has_text ? alpha_grid.size() * k_grid.size() * drop_grid.size() : 0) +
      (has_text && adaptive.enabled ? solo_grid.size() * settle_grid.size() : 0);
  std::atomic<size_t> done{0};
  // Scores every candidate on all cores; the order (and so the choice) stays the grid's.
  auto score_all = [&](const std::vector<SmacsParams>& grid, const std::string& method) {
    std::vector<Scored> scored(grid.size());
    parallel_for(grid.size(), [&](size_t i) {
      scored[i] = score_of(in, grid[i], method);
      if (progress) progress(++done, total);
    });
    return scored;
  };

  std::vector<SmacsParams> rps;
  for (double beta : beta_grid)
    for (size_t n : neighbor_grid)
      for (double tau : tau_grid)
        for (bool gate : gate_grid) {
          SmacsParams p = base;
          p.rps.task_gate = gate;
          p.rps.neighbors = n;
          p.rps.tau = tau;
          p.rps.beta = beta;
          rps.push_back(p);
        }
  const SmacsParams rps_best = one_standard_error(score_all(rps, "rps_top1")).params;
  if (!has_text) return rps_best;  // the posterior falls back to the prior: nothing more to fit

  std::vector<SmacsParams> posterior;
  for (double alpha : alpha_grid)
    for (size_t k : k_grid)
      for (double drop : drop_grid) {
        SmacsParams p = rps_best;
        p.k = k;
        p.posterior.alpha = alpha;
        p.p_drop = drop;
        posterior.push_back(p);
      }
  const Scored fixed_fit = one_standard_error(score_all(posterior, "smacs"));
  SmacsParams fixed = fixed_fit.params;
  fixed.adaptive = adaptive;
  if (!adaptive.enabled) return fixed;

  // Adaptive fan-out: the cheapest stop rule that keeps (almost) the fixed-k accuracy.
  std::vector<SmacsParams> rounds;
  for (double solo : solo_grid)
    for (double settle : settle_grid) {
      SmacsParams p = fixed;
      p.adaptive.solo = solo;
      p.adaptive.settle = settle;
      rounds.push_back(p);
    }
  return cheapest_within(score_all(rounds, "smacs_adaptive"), fixed_fit.score, adaptive.max_loss);
}

}  // namespace smacs
