// How an answer explains itself: the `smacs` trace (selection, proxy and posterior scores,
// latencies, errors, cost, aggregate mode's candidates), the usage summed over every call, the
// metrics each call counts, and the error a client sees when no backend answered.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/aggregate_mode.h"
#include "server/backend_pool.h"
#include "server/gateway_answer.h"

namespace smacs {

// What a candidate answered, for agreement: its text, or for tool calls kToolCalls and the
// functions with their arguments in canonical JSON (same call = same string, whatever the key
// order).
std::string candidate_text(const Completion& r);
bool has_tool_calls(const std::vector<std::optional<std::string>>& answers);

// The decision as the client sees it: selection, proxy and posterior scores.
nlohmann::json decision_trace(const BackendPool& pool, const Plan& plan, const Rounds& rounds,
                              const std::string& task);

// Usage, cost, latency, errors and metrics of the replies of `asked`, into `out` and its trace.
void account(const BackendPool& pool, Metrics& metrics, const std::vector<int>& asked,
             const std::vector<BackendReply>& replies, GatewayAnswer& out);

// Aggregate mode's calls: metrics, usage and cost into `out`, and its part of the trace.
// `reference_replies` are the rounds' (aligned with the selection), `candidate_replies` the
// aggregator's.
void account_aggregate(const BackendPool& pool, Metrics& metrics, const Plan& plan,
                       const Aggregation& aggregation,
                       const std::vector<BackendReply>& reference_replies,
                       const std::vector<BackendReply>& candidate_replies, GatewayAnswer& out);

// Why every asked backend failed, as the client should see it: 400 when each refused the
// request (a retry cannot help), 429 when each is rate limited, 504 when each timed out, else
// 502. `errors` is the trace's name -> message.
ApiError explain_failure(const std::vector<BackendReply>& replies, const nlohmann::json& errors);

}  // namespace smacs
