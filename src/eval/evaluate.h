// `smacs eval`: SMACS against every single model, the baselines and the oracle, replaying
// recorded results (the replay "backend" returns a model's recorded response and score).
#pragma once
#include <functional>
#include <map>
#include <optional>

#include "eval/length_control.h"
#include "pipeline/smacs.h"
#include "posterior/ranker_training.h"

namespace smacs {

// Names of the methods in reports (the JSON contract), in table order.
inline const std::vector<std::string> kMethods = {"smacs",           "smacs_no_drop",
                                                  "smacs_adaptive",  "smacs_escalate",
                                                  "smacs_aggregate", "smacs_aggregate_adaptive",
                                                  "rps_top1",        "router_knn",
                                                  "router_mlp",      "router_mf",
                                                  "best_single",     "best_per_task",
                                                  "random",          "vote",
                                                  "vote_best_k",     "oracle"};

// A mean built one value at a time (0 when empty).
struct RunningMean {
  double sum = 0;
  size_t n = 0;
  void add(double v) {
    sum += v;
    ++n;
  }
  double value() const { return n > 0 ? sum / static_cast<double>(n) : 0.0; }
};

struct TaskResult {
  std::string task;
  size_t n = 0;                                     // questions with at least one pool result
  std::map<std::string, double> accuracy;           // percent, by method or model name
  std::map<std::string, double> cost;               // per question, in the report's cost_unit
  std::map<std::string, double> calls;              // model calls per question
  std::map<std::string, double> length;             // mean characters of the answers given
  std::map<std::string, double> length_controlled;  // judged free text: eval/length_control.h
  std::map<std::string, std::vector<JudgedAnswer>> judged;  // what length_controlled is fitted on
  double rounds = 0;               // smacs_adaptive's mean rounds per question
  double escalated = 0;            // percent of questions smacs_escalate escalated
  double references_settled = -1;  // aggregate mode: percent whose references settle (-1: not run)
  AnswerKind kind = AnswerKind::kText;
  bool posterior_used = false;  // false: no responses, posterior = prior
};

// What aggregate mode ran with (eval/aggregate_eval.h).
struct AggregateSetup {
  size_t references = 7;
  AggregateParams params;
  std::string aggregator;  // its model id ("": the cost side alone, no aggregator asked)
};

struct EvalReport {
  std::vector<TaskResult> tasks;
  std::map<std::string, double> average;  // mean over tasks (names present in every task)
  std::map<std::string, double> average_cost, average_calls;  // the same, of cost and calls
  std::map<std::string, double> average_length, average_length_controlled;  // and these
  std::string length_reference;           // the judge's reference model ("": no length control)
  std::string cost_unit = "calls";        // "usd" when the test data records costs
  std::string escalate_to;                // smacs_escalate's model ("" = none)
  std::vector<std::string> pool, models;  // pool and every model in the test data
  SmacsParams params;
  std::vector<std::string> notes;                // things the reader must know (e.g. fallbacks)
  std::map<std::string, double> router_seconds;  // training time per router (summed over folds)
  std::optional<AggregateSetup> aggregate;       // aggregate mode was measured
};

// A trained router's expected scores for one test set (eval/routers.cpp).
struct RouterColumn {
  std::string name;                         // "router_mlp"
  std::vector<std::vector<double>> scores;  // per test row, per pool member
  double train_seconds = 0;
  std::string fitted;  // what training chose
};

// Everything about a test set that does not depend on SMACS's parameters, computed once.
struct EvalInput {
  const PriorBank* bank = nullptr;
  const Dataset* test = nullptr;
  std::vector<std::string> pool_names;
  std::vector<int> pool_bank;                     // pool member -> bank column
  std::vector<int> pool_test;                     // pool member -> test column
  std::vector<SparseVec> vectors;                 // per test row: its embedding
  std::vector<std::vector<Neighbor>> neighbors;   // per test row
  std::vector<std::vector<std::string>> answers;  // per test row, per pool member
  std::map<std::string, AnswerKind> kinds;        // per task
  bool cost_in_usd = false;           // the test data records USD costs (else a call costs 1)
  int escalate = -1;                  // test column of smacs_escalate's model (-1: not evaluated)
  bool methods_only = false;          // skip the single models' rows (tuning reads only methods)
  std::vector<RouterColumn> routers;  // add_routers: baselines, and priors for --prior
  // Answer rankers that score row r in place of params.ranker: rankers[ranker_of_row[r]]
  // (tuning's out-of-sample rankers; empty: params.ranker for every row).
  std::vector<AnswerRanker> rankers;
  std::vector<uint8_t> ranker_of_row;
  // The bank's embedder remembering what it embedded: free-text agreement embeds the same
  // recorded responses for every parameter tried.
  std::shared_ptr<Embedder> response_embedder;
  // Judged free text: the test column of the judge's reference answer (a model judged 0.5
  // on every question), against which answer lengths are controlled; -1: none.
  int length_reference = -1;
};

// The answer ranker fitted on every judged free-text answer of the bank's pool members (empty
// pool: every bank model); untrained when the bank has none.
AnswerRanker fit_bank_ranker(const PriorBank& bank, const std::vector<std::string>& pool,
                             const std::map<std::string, AnswerKind>& kind_overrides);
// How a ranker is fitted on the input's bank for its pool (text tasks by the input's kinds).
RankerTraining ranker_training(const EvalInput& input);
// Tuning on the bank itself: every bank question scored by a ranker that never saw it (5
// folds, seeded).
void add_cross_fitted_rankers(EvalInput& input, uint64_t seed);

// `leave_one_out`: the test set is the bank itself and each row's own entry is excluded
// (cross-validation on the train split). Empty `pool` = every model in both bank and test.
EvalInput prepare_eval(const PriorBank& bank, const Dataset& test, std::vector<std::string> pool,
                       const std::map<std::string, AnswerKind>& kind_overrides, size_t depth,
                       bool leave_one_out = false, const Progress& progress = {});

// Trains `names` (router_knn, router_mlp, router_mf) on the input's bank and scores every test
// row with them. Out of sample when the test set is the bank itself (`leave_one_out`, as in
// tuning): router_knn leaves the row out, the networks are cross-fitted in 5 folds of the bank.
void add_routers(EvalInput& input, const std::vector<std::string>& names, bool leave_one_out,
                 uint64_t seed);

// Sets the model smacs_escalate escalates to (a model of the test data; "" = none).
void set_escalation(EvalInput& input, const std::string& model);

// Which methods run_eval scores: every one (reports), or just what tuning reads: rps_top1
// alone, or the smacs methods without smacs_no_drop and the baselines.
enum class EvalScope { kEverything, kRpsTop1, kSmacsMethods };

EvalReport run_eval(const EvalInput& input, const SmacsParams& params,
                    EvalScope scope = EvalScope::kEverything);

// What test column `test_col` costs for row `r` in the report's unit: USD (unknown counts 0),
// or one call when the data records no costs.
double cost_in_unit(const EvalInput& input, const Record& r, int test_col);

// The mean over tasks of one per-task field, for the names present in every task.
std::map<std::string, double> average_over_tasks(const std::vector<TaskResult>& tasks,
                                                 std::map<std::string, double> TaskResult::*field);
// A task's length-controlled scores, from its judged answers.
void set_length_controlled(TaskResult& task);
// A report's averages of accuracy, cost and calls, from its tasks.
void set_averages(EvalReport& report);

// Whether some pool member has a recorded result for `r` (rows without one are not scored).
bool has_pool_result(const EvalInput& in, const Record& r);

// What tuning cross-validates on. kLeaveOneOut: each bank question answered by the rest of
// the bank (questions like the bank's). kLeaveOneTaskOut: each bank task answered by a bank of
// the other tasks, for questions of tasks the bank lacks (falls back to kLeaveOneOut on a bank
// of one task). Fitting for one case picks badly for the other: many neighbours and a strong
// task mean are safe in distribution but route an unseen task to the wrong task's best model.
enum class TuneSplit { kLeaveOneOut, kLeaveOneTaskOut };

// Cross-validation on the bank: fits RPS parameters for rps_top1, then k, p_drop and alpha
// for smacs (when the bank has responses). Returns the fitted params.
SmacsParams tune_params(const PriorBank& bank, const std::vector<std::string>& pool,
                        const std::map<std::string, AnswerKind>& kind_overrides, SmacsParams base,
                        const Progress& progress = {}, TuneSplit split = TuneSplit::kLeaveOneOut);

}  // namespace smacs
