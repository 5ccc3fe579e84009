// The gateway's own endpoints beside the three doors: GET /v1/models[/{id}], POST /v1/feedback,
// POST /admin/reload, GET /health, GET /ready (for load balancers), GET /metrics.
#pragma once
#include <nlohmann/json.hpp>

#include "server/config.h"
#include "server/gateway.h"
#include "server/http_server.h"

namespace smacs {

class BankFollower;

struct AdminContext {
  const ServerConfig& config;
  Gateway& gateway;
  Metrics& metrics;
  const BankFollower* const& follower;  // a shared bank's follower (null: none), set before run
};

void add_admin_routes(HttpServer& server, const AdminContext& context);

// Re-reads the bank `config` names (files or database, and the feedback journal) and swaps it
// in; returns what it holds now. Throws when it cannot (smacs::Error, or std::bad_alloc for a
// bank too big for memory): the old bank stays.
nlohmann::json reload_bank(const ServerConfig& config, Gateway& gateway);

// What a failed reload says, /admin/reload and SIGHUP alike: "reload failed, the old bank
// stays: WHY", with any password in WHY hidden.
std::string reload_failure(const std::exception& e);

}  // namespace smacs
