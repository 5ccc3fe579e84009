#include "server/wiring.h"

#include "bank/bank_store.h"

namespace smacs {

GatewayWiring wire_gateway(const ServerConfig& config) {
  GatewayWiring out;
  out.options = GatewayOptions{.fanout_threads = config.threads,
                               .feedback_journal = config.feedback_journal,
                               .remember_bytes = config.remember_bytes,
                               .feedback_per_second = config.feedback_per_second,
                               .escalate_to = config.escalate_to,
                               .aggregator = config.aggregator};
  for (const auto& b : config.pool) {
    out.backends.push_back(make_backend(b));
    out.options.prices.push_back(b.price);
  }
  for (const auto& b : config.aggregators) {  // after the pool: never selected
    out.backends.push_back(make_backend(b));
    out.options.prices.push_back(b.price);
    out.options.unrouted.push_back(b.name());
  }
  if (is_bank_location(config.bank_files)) out.options.bank_file = config.bank_files[0];
  return out;
}

}  // namespace smacs
