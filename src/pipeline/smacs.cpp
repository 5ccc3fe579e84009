#include "pipeline/smacs.h"

#include <nlohmann/json.hpp>

namespace smacs {

nlohmann::json params_to_json(const SmacsParams& p) {
  return {{"neighbors", p.rps.neighbors},
          {"tau", p.rps.tau},
          {"beta", p.rps.beta},
          {"gamma", p.rps.gamma},
          {"task_gate", p.rps.task_gate},
          {"task_vote", p.rps.task_vote},
          {"task_tau", p.rps.task_tau},
          {"k", p.k},
          {"p_drop", p.p_drop},
          {"alpha", p.posterior.alpha},
          {"agreement", p.posterior.agreement},
          {"seed", p.seed}};
}

std::vector<Neighbor> retrieve(const PriorBank& bank, std::string_view question, const RpsParams& p,
                               uint32_t exclude) {
  return bank.index->search(bank.embedder->embed(question), p.retrieval_depth(), exclude);
}

Plan plan_from_neighbors(const PriorBank& bank, std::span<const Neighbor> neighbors,
                         const std::vector<int>& pool, const SmacsParams& params,
                         std::string_view question_key) {
  Plan plan;
  plan.proxy = proxy_scores(bank, neighbors, pool, params.rps);
  plan.selection =
      select_models(plan.proxy.score, params.k, params.p_drop, mix_seed(params.seed, question_key));
  return plan;
}

std::optional<Choice> choose(const Plan& plan,
                             const std::vector<std::optional<std::string>>& answers,
                             AnswerKind kind, const SmacsParams& params) {
  Choice choice;
  std::vector<Candidate> candidates;
  for (size_t i = 0; i < plan.selection.selected.size() && i < answers.size(); ++i) {
    if (!answers[i]) continue;
    const int member = plan.selection.selected[i];
    candidates.push_back({member, plan.proxy.score[member], *answers[i]});
    choice.candidates.push_back(member);
  }
  if (candidates.empty()) return std::nullopt;
  choice.posterior = score_candidates(candidates, kind, params.posterior);
  choice.member = candidates[choice.posterior.best].member;
  return choice;
}

}  // namespace smacs
