// From a configuration to what a Gateway is built from: one backend per pool entry (then the
// dedicated aggregators, never selected) and the gateway's options. `smacs serve` and the
// server tests wire a gateway through this one function, so they cannot drift apart.
#pragma once
#include <memory>
#include <vector>

#include "server/config.h"
#include "server/gateway.h"

namespace smacs {

struct GatewayWiring {
  std::vector<std::unique_ptr<Backend>> backends;  // the pool's, then the aggregators'
  GatewayOptions options;
};

// Feedback goes to the bank when `config`'s bank is one file or database, else to the journal.
GatewayWiring wire_gateway(const ServerConfig& config);

}  // namespace smacs
