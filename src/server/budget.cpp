#include "server/budget.h"

namespace smacs {

using nlohmann::json;

TokenGuess guess_tokens(const ChatRequest& request) {
  const json max_tokens = request.body.value("max_tokens", json(512));
  return {.prompt = static_cast<double>(request.body["messages"].dump().size()) / 4,
          .completion = max_tokens.is_number() ? max_tokens.get<double>() : 512};
}

std::optional<double> expected_cost(const BackendPool& pool, size_t j, const Plan& plan,
                                    const TokenGuess& tokens) {
  if (plan.proxy.cost[j]) return plan.proxy.cost[j];
  return pool.price(j).cost(tokens.prompt, tokens.completion);
}

void fit_budget(const BackendPool& pool, Plan& plan, const TokenGuess& tokens, double budget) {
  std::vector<int> kept;
  double spent = 0;
  for (int m : plan.selection.selected) {
    const double cost = expected_cost(pool, m, plan, tokens).value_or(0);
    if (spent + cost > budget) continue;
    spent += cost;
    kept.push_back(m);
  }
  plan.selection.selected = std::move(kept);
}

std::optional<double> budget_left(const BackendPool& pool, std::optional<double> budget,
                                  const std::vector<int>& asked, const Plan& plan,
                                  const TokenGuess& tokens) {
  if (budget)
    for (int m : asked) *budget -= expected_cost(pool, m, plan, tokens).value_or(0);
  return budget;
}

}  // namespace smacs
