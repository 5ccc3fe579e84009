#include "pipeline/smacs.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace smacs {

EpeMode parse_epe_mode(const std::string& name) {
  if (name == "select") return EpeMode::kSelect;
  if (name == "aggregate") return EpeMode::kAggregate;
  throw Error("unknown mode '" + name + "' (expected select or aggregate)");
}

const char* to_string(EpeMode mode) { return mode == EpeMode::kSelect ? "select" : "aggregate"; }

nlohmann::json params_to_json(const SmacsParams& p) {
  nlohmann::json out = {
      {"proxy", to_string(p.rps.rule)},
      {"neighbors", p.rps.neighbors},
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
      {"agreement_rule", p.posterior.rule == AgreementRule::kResponses ? "responses" : "answers"},
      {"text_rule", to_string(p.posterior.text_rule)},
      {"cost_weight", p.rps.cost_weight},
      {"adaptive", p.adaptive.enabled},
      {"settle", p.adaptive.settle},
      {"solo", p.adaptive.solo},
      {"solo_margin", p.adaptive.solo_margin},
      {"seed", p.seed},
      {"prior", p.prior},
      {"per_task", [&] {
         nlohmann::json out = nlohmann::json::object();
         for (const auto& [task, t] : p.per_task)
           out[task] = {{"k", t.k},
                        {"p_drop", t.p_drop},
                        {"alpha", t.alpha},
                        {"text_rule", to_string(t.text_rule)}};
         return out;
       }()}};
  if (p.ranker.trained()) {
    nlohmann::json w = nlohmann::json::object();
    for (size_t i = 0; i < kRankerFeatures; ++i) w[ranker_feature_names()[i]] = p.ranker.weights[i];
    out["ranker"] = {{"weights", w}, {"questions", p.ranker.questions}, {"pairs", p.ranker.pairs}};
  }
  if (p.mode == EpeMode::kAggregate) {
    const AggregateParams& a = p.aggregate;
    out["mode"] = to_string(p.mode);
    out["aggregate"] = {{"candidates", a.candidates},
                        {"keep", a.keep},
                        {"sampler", to_string(a.sampler)},
                        {"ppl_coef", a.ppl_coef},
                        {"temperature", a.temperature}};
  }
  return out;
}

TaskParams params_for_task(const SmacsParams& p, const PriorBank& bank, int task) {
  if (task >= 0 && static_cast<size_t>(task) < bank.tasks.size())
    if (const auto it = p.per_task.find(bank.tasks[static_cast<size_t>(task)]);
        it != p.per_task.end())
      return it->second;
  return {
      .k = p.k, .p_drop = p.p_drop, .alpha = p.posterior.alpha, .text_rule = p.posterior.text_rule};
}

TaskParams apply_task_params(Plan& plan, const SmacsParams& params, const PriorBank& bank) {
  TaskParams own = params_for_task(params, bank, plan.proxy.task);
  if (params.mode == EpeMode::kAggregate) own.p_drop = 0;  // the subsets explore instead
  plan.k = own.k;
  plan.posterior = params.posterior;
  plan.posterior.alpha = own.alpha;
  plan.posterior.text_rule = own.text_rule;
  plan.embedder = bank.embedder.get();
  plan.ranker = &params.ranker;
  return own;
}

std::vector<Neighbor> retrieve(const PriorBank& bank, std::string_view question, const RpsParams& p,
                               uint32_t exclude) {
  return retrieve(bank, bank.embedder->embed(question), p, exclude);
}

std::vector<Neighbor> retrieve(const PriorBank& bank, const SparseVec& question, const RpsParams& p,
                               uint32_t exclude) {
  return bank.index->search(question, p.retrieval_depth(), exclude);
}

Plan plan_from_neighbors(const PriorBank& bank, std::span<const Neighbor> neighbors,
                         const std::vector<int>& pool, const SmacsParams& params,
                         std::string_view question_key, const Eligible& eligible) {
  return plan_from_proxy(bank, proxy_scores(bank, neighbors, pool, params.rps), params,
                         question_key, eligible);
}

SparseVec embed_question(const PriorBank& bank, std::string_view question) {
  return bank.embedder->embed(question);
}

Plan plan_question(const PriorBank& bank, const SparseVec& embedded, const std::vector<int>& pool,
                   const SmacsParams& params, std::string_view question_key,
                   const Eligible& eligible) {
  return plan_from_neighbors(bank, retrieve(bank, embedded, params.rps), pool, params, question_key,
                             eligible);
}

Plan plan_from_proxy(const PriorBank& bank, Proxy proxy, const SmacsParams& params,
                     std::string_view question_key, const Eligible& eligible) {
  Plan plan;
  plan.proxy = std::move(proxy);
  const TaskParams own = apply_task_params(plan, params, bank);
  const std::vector<double> rank = rank_scores(plan.proxy, params.rps.cost_weight);
  const uint64_t seed = mix_seed(params.seed, question_key);
  if (eligible.empty()) {
    plan.selection = select_models(rank, own.k, own.p_drop, seed);
    return plan;
  }
  std::vector<int> members;  // eligible pool positions
  std::vector<double> scores;
  for (size_t j = 0; j < rank.size() && j < eligible.size(); ++j)
    if (eligible[j]) members.push_back(static_cast<int>(j)), scores.push_back(rank[j]);
  Selection s = select_models(scores, own.k, own.p_drop, seed);
  for (auto* positions : {&s.ranked, &s.selected, &s.dropped, &s.replacements})
    for (int& m : *positions) m = members[static_cast<size_t>(m)];
  plan.selection = std::move(s);
  return plan;
}

std::optional<Choice> choose(const Plan& plan,
                             const std::vector<std::optional<std::string>>& answers,
                             AnswerKind kind) {
  Choice choice;
  std::vector<Candidate> candidates;
  for (size_t i = 0; i < plan.selection.selected.size() && i < answers.size(); ++i) {
    if (!answers[i]) continue;
    const int member = plan.selection.selected[i];
    candidates.push_back({member, plan.proxy.score[member], *answers[i]});
    choice.candidates.push_back(member);
  }
  if (candidates.empty()) return std::nullopt;
  choice.posterior = score_candidates(candidates, kind, plan.posterior, plan.embedder, plan.ranker);
  choice.member = candidates[choice.posterior.best].member;
  return choice;
}

bool settled(const std::optional<Choice>& choice,
             const std::vector<std::optional<std::string>>& answers, AnswerKind kind,
             const SmacsParams& params) {
  const bool any_text =
      std::any_of(answers.begin(), answers.end(), [](const auto& a) { return a && !a->empty(); });
  if (!params.posterior.agreement || !any_text) return true;  // the prior alone decides
  if (!choice || choice->candidates.size() < 2) return false;
  const Posterior& post = choice->posterior;
  const std::string& chosen = post.answers[post.best];
  double share = 0, total = 0, votes = 0;
  for (size_t c = 0; c < post.answers.size(); ++c) {
    const double agree = c == post.best   ? 1.0
                         : chosen.empty() ? 0.0
                                          : answer_similarity(kind, chosen, post.answers[c]);
    share += post.prior_norm[c] * agree;
    total += post.prior_norm[c];
    votes += agree;
  }
  return votes >= 2 - 1e-9 && total > 0 && share / total >= params.adaptive.settle - 1e-12;
}

namespace {

// Whether the top selected model is asked alone: its own proxy score is high, or it leads the
// next selected model by the margin (on judged free text every score is low, but one model can
// still be clearly the best for the question's neighbourhood).
bool prior_is_decisive(const Plan& plan, const AdaptiveParams& a) {
  const auto& selected = plan.selection.selected;
  const double top = plan.proxy.score[selected[0]];
  if (top >= a.solo) return true;
  return selected.size() >= 2 && top - plan.proxy.score[selected[1]] >= a.solo_margin;
}

}  // namespace

RoundsInProgress::RoundsInProgress(const Plan& plan, const SmacsParams& params)
    : plan_(&plan), params_(params) {
  const size_t k = plan.selection.selected.size();
  solo_ = params.adaptive.enabled && k > 0 && prior_is_decisive(plan, params.adaptive);
  const size_t first = solo_ ? 1 : std::max<size_t>(params.adaptive.first_round, 1);
  next_ = params.adaptive.enabled ? std::min(first, k) : k;
}

std::optional<std::pair<size_t, size_t>> RoundsInProgress::next() const {
  if (over_ || out_.asked() >= plan_->selection.selected.size()) return std::nullopt;
  return std::make_pair(out_.asked(), next_);
}

void RoundsInProgress::take(std::vector<std::optional<std::string>> replies,
                            const KindFn& kind_of) {
  out_.answers.insert(out_.answers.end(), std::make_move_iterator(replies.begin()),
                      std::make_move_iterator(replies.end()));
  out_.answers.resize(next_);  // an ask that returned too few: the rest failed
  ++out_.rounds;
  out_.kind = kind_of(out_.answers);
  out_.choice = choose(*plan_, out_.answers, out_.kind);
  // A solo reply settles the question only with an answer to read: a runaway or cut-off
  // reply asks the next models after all.
  const bool solo_answered =
      solo_ && out_.rounds == 1 && out_.answers[0] &&
      (out_.answers[0]->empty() || !extract_answer(out_.kind, *out_.answers[0]).empty());
  out_.settled = solo_answered || settled(out_.choice, out_.answers, out_.kind, params_);
  over_ = out_.settled || !params_.adaptive.enabled;
  next_ = out_.asked() + 1;
}

Rounds run_rounds(const Plan& plan, const SmacsParams& params, const AskFn& ask,
                  const KindFn& kind_of) {
  RoundsInProgress rounds(plan, params);
  while (const auto batch = rounds.next()) rounds.take(ask(batch->first, batch->second), kind_of);
  return rounds.result();
}

}  // namespace smacs
