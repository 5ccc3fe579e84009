// From a configuration to a running Gateway: one backend per pool entry (then the dedicated
// aggregators, never selected) and the gateway's options. `smacs serve`, the server tests and
// the benchmarks build their gateways through this one function, so they cannot drift apart.
#pragma once
#include <memory>

#include "server/config.h"
#include "server/gateway.h"

namespace smacs {

// Feedback goes to the bank when `config`'s bank is one file or database, else to the
// journal. `params` are config.params, or what tuning made of them.
std::unique_ptr<Gateway> make_gateway(const ServerConfig& config, PriorBank bank,
                                      const SmacsParams& params, Metrics& metrics);

}  // namespace smacs
