// `smacs eval`'s flags (cli/cmd_eval.cpp), and its aggregate-mode flags, registered and checked
// apart (cli/eval_aggregate_flags.cpp): the paper's EPE measured offline or with a live aggregator.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "eval/aggregate_eval.h"
#include "eval/evaluate.h"

namespace smacs::cli {

struct EvalFlags {
  std::vector<std::string> train, test, pool, kinds;
  std::string bank, report, markdown, plot, versus_plot, escalate_to, frontier,
      proxy = "smacs", agreement_rule = "answers", text_rule = "hybrid", index = "exact",
      embedder_gguf, embedder_url, embedder_model, embedding_cache;
  // Aggregate mode (eval/aggregate_eval.h): measured when --mode aggregate or an aggregator.
  std::string mode = "select", sampler = "prior", aggregator_key_env;
  AggregateEvalOptions aggregate;
  AggregatorEndpoint aggregator;
  int aggregator_max_tokens = 0;  // 0: the server's default
  SmacsParams params;
  bool tune = false, no_gate = false, no_drop = false, no_agreement = false, loto = false,
       no_routers = false;
  size_t folds = 0;  // > 0: cross-fit the test data instead of a train split
};

// --mode, --references, --candidates, ... --aggregate-cache.
void add_aggregate_flags(CLI::App& cmd, EvalFlags& f);
// The aggregate flags checked and folded into f.aggregate (throws smacs::Error).
void resolve_aggregate_flags(EvalFlags& f);

}  // namespace smacs::cli
