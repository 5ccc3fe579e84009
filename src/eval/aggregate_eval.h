// `smacs eval` in aggregate mode (method.md 2a): the references come from the recorded data,
// the aggregator is asked live (or read from its cache), each candidate is graded by smacs's
// graders. Without an aggregator it measures the cost side alone: how many questions the
// references settle, hence the calls aggregate mode pays with and without adaptive.
#pragma once
#include <optional>
#include <string>

#include "eval/evaluate.h"

namespace smacs {

struct AggregatorEndpoint {
  std::string url;                // OpenAI base URL, e.g. http://127.0.0.1:8000/v1
  std::string model;              // the aggregator's model id there
  std::string api_key{};          // sent as Bearer
  size_t concurrency = 8;         // calls in flight at once
  int timeout_ms = 120000;        // per attempt
  int retries = 2;                // on 429, 5xx and connection errors
  std::optional<int> max_tokens;  // of each candidate (nullopt: the server's default)
  std::string cache_path;         // the SQLite cache of its replies (AggregateCache)
};

struct AggregateEvalOptions {
  size_t references = 7;  // k: the top-k by the prior answer as references (paper: 7)
  AggregateParams params;
  std::optional<AggregatorEndpoint> live;  // nullopt: the cost side only, no calls
};

struct AggregatorCalls {
  size_t made = 0, cached = 0, failed = 0;
};

// Adds to each task of `report`: calls per question of smacs_aggregate (k + N) and
// smacs_aggregate_adaptive (k + N on the unsettled questions only), the share of questions
// whose references settle, and with a live aggregator both methods' accuracy. The SMACS
// parameters are `params`' (its k replaced by `options.references`).
AggregatorCalls add_aggregate_mode(const EvalInput& in, const SmacsParams& params,
                                   const AggregateEvalOptions& options, EvalReport& report,
                                   const Progress& progress = {});

}  // namespace smacs
