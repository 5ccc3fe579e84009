// One question through SMACS: embed -> retrieve -> proxy scores -> select (RPS + dropping);
// then, once the selected models have answered, the hybrid posterior picks one (EPE).
// Generation sits between plan() and choose() so that eval can replay recorded answers and
// the server can query real backends concurrently.
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string_view>

#include "bank/prior_bank.h"
#include "posterior/hybrid.h"
#include "selection/proxy.h"
#include "selection/select.h"

namespace smacs {

struct SmacsParams {
  RpsParams rps;
  size_t k = 3;         // models selected per question
  double p_drop = 0.2;  // prior dropping probability (0 turns exploration off)
  PosteriorParams posterior;
  uint64_t seed = 42;
};

nlohmann::json params_to_json(const SmacsParams& p);

struct Plan {
  Proxy proxy;          // per pool member
  Selection selection;  // positions in the pool
};

std::vector<Neighbor> retrieve(const PriorBank& bank, std::string_view question, const RpsParams& p,
                               uint32_t exclude = kNoRow);

// `question_key` seeds this question's dropping draw (with params.seed): same key, same draw.
Plan plan_from_neighbors(const PriorBank& bank, std::span<const Neighbor> neighbors,
                         const std::vector<int>& pool, const SmacsParams& params,
                         std::string_view question_key);

// `answers[i]` is the reply of plan.selection.selected[i], or nullopt where that backend
// failed. Returns nullopt when every backend failed.
struct Choice {
  int member;  // position in the pool of the chosen model
  Posterior posterior;
  std::vector<int> candidates;  // pool positions that answered, aligned with the posterior
};
std::optional<Choice> choose(const Plan& plan,
                             const std::vector<std::optional<std::string>>& answers,
                             AnswerKind kind, const SmacsParams& params);

}  // namespace smacs
