// --tune: leave-one-out cross-validation on the train bank only (never the test split).
//
// Many grid points fit the train data about equally well; the best CV score among them is
// partly luck. So the one-standard-error rule picks, among the points within one standard
// error of the best, the most conservative one (grids below are ordered most conservative
// first): more shrinkage, more and smoother neighbours, a posterior that trusts the prior.
#include <atomic>
#include <cmath>
#include <iterator>
#include <map>
#include <memory>

#include "core/parallel.h"
#include "eval/evaluate.h"

namespace smacs {

namespace {

struct Scored {
  SmacsParams params;
  double score;     // the method's average accuracy, %
  double se;        // its standard error, %
  double cost = 0;  // the method's average cost per question
  std::map<std::string, std::pair<double, double>> by_task{};  // task -> (accuracy, se), %
  std::map<std::string, double> length_controlled{};           // task -> %, judged free text only
};

// The data tuning scores on: (bank, questions) pairs, each prepared once for the whole grid.
struct CvSplit {
  std::unique_ptr<PriorBank> bank;  // null: the tuned bank itself
  std::unique_ptr<Dataset> questions;
  EvalInput input;
};
using CvSplits = std::vector<std::unique_ptr<CvSplit>>;

// Leave-one-out on the bank: questions like the bank's (in distribution).
CvSplits leave_one_out_split(const PriorBank& bank, const std::vector<std::string>& pool,
                             const std::map<std::string, AnswerKind>& kinds, size_t depth) {
  CvSplits out;
  out.push_back(std::make_unique<CvSplit>());
  out.back()->input = prepare_eval(bank, bank.data, pool, kinds, depth, /*leave_one_out=*/true);
  return out;
}

// Each bank task answered by a bank of the other tasks: questions unlike anything in the bank.
CvSplits leave_one_task_out_splits(const PriorBank& bank, const std::vector<std::string>& pool,
                                   const std::map<std::string, AnswerKind>& kinds, size_t depth) {
  CvSplits out;
  for (const auto& held : bank.tasks) {
    auto split = std::make_unique<CvSplit>();
    Dataset rest{bank.data.models, {}};
    split->questions = std::make_unique<Dataset>(Dataset{bank.data.models, {}});
    for (const auto& r : bank.data.records)
      (r.task == held ? split->questions->records : rest.records).push_back(r);
    split->bank = std::make_unique<PriorBank>(build_bank(std::move(rest), options_of(bank)));
    split->input = prepare_eval(*split->bank, *split->questions, pool, kinds, depth);
    out.push_back(std::move(split));
  }
  return out;
}

// `method`'s cross-validated score under `p`: rps_top1, smacs or smacs_adaptive (run_eval
// scores just what that row needs).
Scored score_of(const CvSplits& splits, const SmacsParams& p, const std::string& method) {
  std::vector<TaskResult> tasks;
  for (const auto& s : splits) {
    EvalReport r = run_eval(s->input, p,
                            method == "rps_top1" ? EvalScope::kRpsTop1 : EvalScope::kSmacsMethods);
    std::move(r.tasks.begin(), r.tasks.end(), std::back_inserter(tasks));
  }
  const auto average = average_over_tasks(tasks, &TaskResult::accuracy);
  const auto cost = average_over_tasks(tasks, &TaskResult::cost);
  double var = 0;  // of the mean over tasks of per-task accuracies (scores in 0..1)
  std::map<std::string, std::pair<double, double>> by_task;
  std::map<std::string, double> lc;
  for (const auto& t : tasks) {
    const double acc = t.accuracy.count(method) ? t.accuracy.at(method) / 100 : 0;
    const double task_var = acc * (1 - acc) / static_cast<double>(std::max<size_t>(t.n, 1));
    var += task_var;
    by_task[t.task] = {100 * acc, 100 * std::sqrt(task_var)};
    if (t.length_controlled.count(method)) lc[t.task] = t.length_controlled.at(method);
  }
  const double n_tasks = static_cast<double>(std::max<size_t>(tasks.size(), 1));
  return {p,
          average.count(method) ? average.at(method) : -1.0,
          100 * std::sqrt(var) / n_tasks,
          cost.count(method) ? cost.at(method) : 0.0,
          std::move(by_task),
          std::move(lc)};
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

// Each task's own posterior parameters: the best on that task's questions alone (a question's
// answer depends only on its own k, dropping and alpha, so the grid scored once serves every
// task). The best, not the one-standard-error choice: a task has a fraction of the questions,
// so its standard error is wide and the rule would fall back to the most conservative point
// (k = 2) nearly always, which measured 1-2 points worse on the held-out folds.
std::map<std::string, TaskParams> per_task_choices(const std::vector<Scored>& candidates) {
  std::map<std::string, TaskParams> out;
  if (candidates.empty() || candidates.front().by_task.size() < 2) return out;
  for (const auto& [task, unused] : candidates.front().by_task) {
    std::vector<Scored> on_task;
    for (const auto& c : candidates) {
      const auto [acc, se] = c.by_task.at(task);
      on_task.push_back({c.params, acc, se});
    }
    const SmacsParams& p =
        std::max_element(on_task.begin(), on_task.end(), [](const Scored& a, const Scored& b) {
          return a.score < b.score;
        })->params;
    out[task] = {.k = p.k,
                 .p_drop = p.p_drop,
                 .alpha = p.posterior.alpha,
                 .text_rule = p.posterior.text_rule};
  }
  return out;
}

// Free text: the rule (hybrid, consensus, ranker, blend) and its k, chosen once for all the
// bank's free-text tasks by their pooled score: where a judge's reference gives one, the mean of
// the raw and the length-controlled score, so that no rule wins by choosing longer answers
// (by the raw score alone tuning took k = 4-5 and lost 1.5 length-controlled points). Not per task:
// judged text tasks are one kind of question under one judge, and a task's few hundred questions
// make its best of a dozen points mostly luck (per task, tuning kept the hybrid or swapped rules
// fold by fold and lost 1.5 points to a fixed ranker on AlpacaEval). Sets the choice in `fixed` for
// those tasks, and as the default when every task is free text; returns the chosen point's score.
// The first candidate is the hybrid: it wins ties, and when it wins the tasks keep their own
// choices.
double choose_text_rule(const std::vector<Scored>& candidates,
                        const std::map<std::string, AnswerKind>& kinds, SmacsParams& fixed) {
  auto text_score = [&](const Scored& c) {
    RunningMean mean;
    for (const auto& [task, acc_se] : c.by_task) {
      if (!kinds.count(task) || !is_free_text(kinds.at(task))) continue;
      const auto lc = c.length_controlled.find(task);
      mean.add(lc == c.length_controlled.end() ? acc_se.first : (acc_se.first + lc->second) / 2);
    }
    return mean.value();
  };
  const Scored* best = &candidates.front();
  double best_score = text_score(*best);
  for (const auto& c : candidates)
    if (const double s = text_score(c); s > best_score + 1e-9) best = &c, best_score = s;
  if (best == &candidates.front()) return best->score;
  const SmacsParams& p = best->params;
  const TaskParams choice{
      .k = p.k, .p_drop = p.p_drop, .alpha = p.posterior.alpha, .text_rule = p.posterior.text_rule};
  bool all_text = true;
  for (const auto& [task, kind] : kinds) {
    if (!is_free_text(kind)) {
      all_text = false;
    } else if (fixed.per_task.count(task)) {
      fixed.per_task[task] = choice;
    }
  }
  if (all_text) {  // the choice is every task's: the defaults
    fixed.per_task.clear();
    fixed.k = choice.k;
    fixed.p_drop = choice.p_drop;
    fixed.posterior.alpha = choice.alpha;
    fixed.posterior.text_rule = choice.text_rule;
  }
  return best->score;
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
                        const Progress& progress, TuneSplit split) {
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
  const bool unseen = split == TuneSplit::kLeaveOneTaskOut && bank.tasks.size() >= 2;
  const CvSplits splits =
      unseen ? leave_one_task_out_splits(bank, pool, kind_overrides, deepest.retrieval_depth())
             : leave_one_out_split(bank, pool, kind_overrides, deepest.retrieval_depth());
  const AnswerRanker ranker = fit_bank_ranker(bank, pool, kind_overrides);  // for the test
  const bool judged_text = ranker.trained();
  for (const auto& s : splits) {
    s->input.methods_only = true;
    // Free text: every tuning question scored by a ranker fitted without it.
    if (judged_text && !s->bank) add_cross_fitted_rankers(s->input, base.seed);
    if (judged_text && s->bank) {
      s->input.rankers = {train_ranker(*s->bank, ranker_training(s->input))};
      s->input.ranker_of_row.assign(s->questions->records.size(), 0);
    }
    // A trained router as the prior: its scores of the tuning questions, out of sample.
    if (base.prior != "rps") add_routers(s->input, {base.prior}, !s->bank, base.seed);
  }
  const bool has_text = bank.data.has_responses();
  const std::vector<double> solo_grid = {2.0,   0.98, 0.97, 0.965, 0.96, 0.955, 0.95, 0.945, 0.94,
                                         0.935, 0.93, 0.92, 0.9,   0.88, 0.85,  0.8,  0.7,   0.6};
  const std::vector<double> settle_grid = {0.8, 0.6, 0.5, 0.4};
  // A lead over the next model: tried on judged free text only, where no proxy score is high.
  const std::vector<double> margin_grid =
      judged_text ? std::vector<double>{0.2, 0.1, 0.05, 0.03, 0.02, 0.01, 0.0}
                  : std::vector<double>{};
  const size_t total =
      beta_grid.size() * neighbor_grid.size() * tau_grid.size() * gate_grid.size() +
      (has_text ? alpha_grid.size() * k_grid.size() * drop_grid.size() : 0) +
      (judged_text ? 3 * k_grid.size() : 0) +
      (has_text && adaptive.enabled ? (solo_grid.size() + margin_grid.size()) * settle_grid.size()
                                    : 0);
  std::atomic<size_t> done{0};
  // Scores every candidate on all cores; the order (and so the choice) stays the grid's.
  auto score_all = [&](const std::vector<SmacsParams>& grid, const std::string& method) {
    std::vector<Scored> scored(grid.size());
    parallel_for(grid.size(), [&](size_t i) {
      scored[i] = score_of(splits, grid[i], method);
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
  const std::vector<Scored> posterior_scores = score_all(posterior, "smacs");
  const Scored fixed_fit = one_standard_error(posterior_scores);
  SmacsParams fixed = fixed_fit.params;
  double fixed_score = fixed_fit.score;
  // Per task only where the tasks are the bank's own (not held out as unseen ones).
  if (!unseen) fixed.per_task = per_task_choices(posterior_scores);
  if (judged_text && base.posterior.text_rule == TextRule::kHybrid) {
    std::vector<Scored> rules = {fixed_fit};
    std::vector<SmacsParams> grid;
    for (TextRule rule : {TextRule::kConsensus, TextRule::kRanker, TextRule::kBlend})
      for (size_t k : k_grid) {
        SmacsParams p = fixed_fit.params;
        p.posterior.text_rule = rule;
        p.k = k;
        grid.push_back(p);
      }
    auto scored = score_all(grid, "smacs");
    std::move(scored.begin(), scored.end(), std::back_inserter(rules));
    fixed_score = choose_text_rule(rules, splits.front()->input.kinds, fixed);
  }
  fixed.ranker = ranker;
  fixed.adaptive = adaptive;
  if (!adaptive.enabled) return fixed;

  // Adaptive fan-out: the cheapest stop rule that keeps (almost) the fixed-k accuracy.
  std::vector<std::pair<double, double>> alone;  // (solo, solo_margin): when one model is asked
  for (double solo : solo_grid) alone.emplace_back(solo, 2.0);
  for (double margin : margin_grid) alone.emplace_back(2.0, margin);
  std::vector<SmacsParams> rounds;
  for (const auto& [solo, margin] : alone)
    for (double settle : settle_grid) {
      SmacsParams p = fixed;
      p.adaptive.solo = solo;
      p.adaptive.solo_margin = margin;
      p.adaptive.settle = settle;
      rounds.push_back(p);
    }
  return cheapest_within(score_all(rounds, "smacs_adaptive"), fixed_score, adaptive.max_loss);
}

}  // namespace smacs
