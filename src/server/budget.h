// A request's cost budget (`smacs.max_cost_usd`): what each backend is expected to cost for it,
// which selected models fit, and what the calls made so far leave.
#pragma once
#include <optional>
#include <vector>

#include "api/openai_api.h"
#include "pipeline/smacs.h"
#include "server/backend_pool.h"

namespace smacs {

struct TokenGuess {  // a request's size, for prices: measured once per request
  double prompt = 0, completion = 0;
};
// The prompt's bytes / 4 and max_tokens (or 512) completion tokens.
TokenGuess guess_tokens(const ChatRequest& request);

// What backend j is expected to cost (USD): the neighbours' recorded cost, else its price at
// `tokens`; nullopt when neither is known.
std::optional<double> expected_cost(const BackendPool& pool, size_t j, const Plan& plan,
                                    const TokenGuess& tokens);

// Keeps the selected models whose expected costs fit `budget`, in rank order.
void fit_budget(const BackendPool& pool, Plan& plan, const TokenGuess& tokens, double budget);

// What `budget` leaves after the backends `asked` (nullopt: no budget).
std::optional<double> budget_left(const BackendPool& pool, std::optional<double> budget,
                                  const std::vector<int>& asked, const Plan& plan,
                                  const TokenGuess& tokens);

}  // namespace smacs
