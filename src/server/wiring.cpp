#include "server/wiring.h"

#include "bank/bank_store.h"

namespace smacs {

std::unique_ptr<Gateway> make_gateway(const ServerConfig& config, PriorBank bank,
                                      const SmacsParams& params, Metrics& metrics) {
  GatewayOptions options{
      .fanout_threads = config.threads,
      .feedback_journal = config.feedback_journal,
      .remember_bytes = config.remember_bytes,
      .reload_rows_at_start = config.reload_rows_at_start,
      .feedback_per_second = config.feedback_per_second,
      .roles = {.escalate_to = config.escalate_to, .aggregator = config.aggregator}};
  std::vector<std::unique_ptr<Backend>> backends;
  for (const auto& b : config.pool) {
    backends.push_back(make_backend(b));
    options.prices.push_back(b.price);
  }
  for (BackendConfig b : config.aggregators) {  // after the pool: never selected
    // A reply longer than a candidate may be is read no further than that.
    b.http.max_content_bytes = params.aggregate.max_candidate_bytes;
    backends.push_back(make_backend(b));
    options.prices.push_back(b.price);
    options.roles.unrouted.push_back(b.name());
  }
  if (is_bank_location(config.bank_files)) options.bank_file = config.bank_files[0];
  return std::make_unique<Gateway>(std::move(bank), params, std::move(backends), metrics,
                                   std::move(options));
}

}  // namespace smacs
