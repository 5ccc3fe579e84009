// The accuracy-cost frontier: SMACS's cost knobs (cost weight, adaptive stop rule, k, with and
// without escalation) swept and fitted on the train data only, then measured on the test data;
// beside it the same sweep for a static cascade (the models in one fixed order, no retrieval)
// and every single model as a point.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include "eval/evaluate.h"

namespace smacs {

struct FrontierPoint {
  double accuracy = 0;  // %, averaged over tasks
  double cost = 0;      // per question, in the report's cost unit, averaged over tasks
  SmacsParams params{};
  bool escalate = false;
  std::string label{};  // single models: the model's name
};

struct Frontier {
  std::string cost_unit;
  std::vector<FrontierPoint> smacs, cascade, models;  // curves by cost; models as points
  std::string best_model;                             // highest accuracy of the pool
  double aiq_smacs = 0, aiq_cascade = 0, aiq_models = 0;
};

// `train` is the bank as a leave-one-out input, `test` the test input (escalation set on both
// when wanted). Points on each curve are the configurations on the train Pareto front.
Frontier sweep_frontier(const EvalInput& train, const EvalInput& test, const SmacsParams& base,
                        const Progress& progress = {});

// The area under the non-decreasing upper hull of `points` (accuracy in 0..1) over the cost
// range [lo, hi], divided by hi - lo: RouterBench's AIQ. Below the cheapest point the curve is
// 0 (no operating point there); beyond the dearest it stays at its best accuracy.
double aiq(std::vector<FrontierPoint> points, double lo, double hi);

nlohmann::json frontier_to_json(const Frontier& f);
std::string frontier_to_svg(const Frontier& f);
void print_frontier(std::ostream& out, const Frontier& f);

}  // namespace smacs
