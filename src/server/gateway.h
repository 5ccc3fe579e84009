// SMACS over live backends: plan (RPS + dropping), query the selected models concurrently,
// choose by the hybrid posterior, and explain the decision in a `smacs` trace.
#pragma once
#include <map>
#include <memory>

#include "core/task_pool.h"
#include "generation/backend.h"
#include "pipeline/smacs.h"
#include "server/metrics.h"
#include "server/openai_api.h"

namespace smacs {

struct GatewayAnswer {
  bool ok = false;
  std::string content;
  std::string chosen;      // pool name of the chosen model
  nlohmann::json trace;    // selected, dropped, replacements, proxy/posterior scores, latencies
  nlohmann::json usage;    // summed over the backends that answered
  std::string error;       // !ok: every backend's failure
};

class Gateway {
 public:
  // Every backend's name must be a model of the bank: its prior comes from there.
  // `fanout_threads` bounds the backend calls in flight across all requests.
  Gateway(PriorBank bank, SmacsParams params, std::vector<std::unique_ptr<Backend>> backends, Metrics& metrics,
          size_t fanout_threads = 128);

  GatewayAnswer answer(const ChatRequest& request, Deadline deadline);
  Backend* backend(const std::string& name);  // nullptr when not in the pool
  std::vector<std::string> model_names() const;
  const SmacsParams& params() const { return params_; }

 private:
  PriorBank bank_;
  SmacsParams params_;
  std::vector<std::unique_ptr<Backend>> backends_;  // in pool order
  std::vector<int> pool_;                           // pool member -> bank column
  std::vector<AnswerKind> task_kind_;               // per bank task
  Metrics& metrics_;
  TaskPool fanout_;
};

}  // namespace smacs
