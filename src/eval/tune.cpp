// --tune: leave-one-out cross-validation on the train bank only (never the test split).
#include "eval/evaluate.h"

namespace smacs {

namespace {

double average_of(const EvalReport& r, const std::string& name) {
  auto it = r.average.find(name);
  return it == r.average.end() ? -1.0 : it->second;
}

}  // namespace

SmacsParams tune_params(const PriorBank& bank, const std::vector<std::string>& pool,
                        const std::map<std::string, AnswerKind>& kind_overrides, SmacsParams base,
                        const Progress& progress) {
  const std::vector<size_t> neighbor_grid = {10, 25, 50, 100, 200};
  const std::vector<double> tau_grid = {0.05, 0.2, 1.0};
  const std::vector<double> beta_grid = {0, 3, 10, 30, 100};
  const std::vector<bool> gate_grid = {true, false};
  RpsParams deepest = base.rps;
  deepest.neighbors = neighbor_grid.back();
  const EvalInput in =
      prepare_eval(bank, bank.data, pool, kind_overrides, deepest.retrieval_depth(),
                   /*leave_one_out=*/true);
  const bool has_text = bank.data.has_responses();
  const size_t rps_points =
      neighbor_grid.size() * tau_grid.size() * beta_grid.size() * gate_grid.size();
  const std::vector<size_t> k_grid = {2, 3, 4, 5};
  const std::vector<double> alpha_grid = {0.1, 0.3, 0.5, 0.7, 0.9};
  const std::vector<double> drop_grid = {0.0, 0.1, 0.2, 0.3};
  const size_t total =
      rps_points + (has_text ? k_grid.size() * alpha_grid.size() * drop_grid.size() : 0);
  size_t done = 0;

  SmacsParams best = base;
  double best_score = -1;
  for (bool gate : gate_grid)
    for (size_t n : neighbor_grid)
      for (double tau : tau_grid)
        for (double beta : beta_grid) {
          SmacsParams p = base;
          p.rps.task_gate = gate, p.rps.neighbors = n, p.rps.tau = tau, p.rps.beta = beta;
          const double score = average_of(run_eval(in, p), "rps_top1");
          if (score > best_score) best_score = score, best = p;
          if (progress) progress(++done, total);
        }
  if (!has_text) return best;  // the posterior falls back to the prior: nothing more to fit

  const SmacsParams rps_best = best;
  best_score = -1;
  for (size_t k : k_grid)
    for (double alpha : alpha_grid)
      for (double drop : drop_grid) {
        SmacsParams p = rps_best;
        p.k = k, p.posterior.alpha = alpha, p.p_drop = drop;
        const double score = average_of(run_eval(in, p), "smacs");
        if (score > best_score) best_score = score, best = p;
        if (progress) progress(++done, total);
      }
  return best;
}

}  // namespace smacs
