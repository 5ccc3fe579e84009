#include "pipeline/aggregate_mode.h"

#include <nlohmann/json.hpp>

#include "answers/extract.h"
#include "selection/select.h"

namespace smacs {

namespace {

bool any_tool_calls(const std::vector<std::string>& texts) {
  for (const auto& t : texts)
    if (t.starts_with(kToolCalls)) return true;
  return false;
}

}  // namespace

AggregationInProgress::AggregationInProgress(
    const Plan& plan, const Rounds& rounds, std::vector<std::optional<std::string>> reference_texts,
    const SmacsParams& params, std::string_view question_key)
    : params_(params.aggregate), texts_(std::move(reference_texts)) {
  const auto& selected = plan.selection.selected;
  std::vector<double> scores;
  for (size_t i = 0; i < selected.size() && i < texts_.size(); ++i)
    if (texts_[i] && i < rounds.answers.size() && rounds.answers[i]) {
      out_.references.push_back(i);
      scores.push_back(plan.proxy.score[selected[i]]);
    }
  if (out_.references.empty()) {
    out_.skipped = AggregateSkip::kNoReferences;
    return;
  }
  if (params.adaptive.enabled && rounds.settled) {
    out_.skipped = AggregateSkip::kSettled;
    return;
  }
  const auto p = subset_probabilities(scores, params_.sampler, params_.softmax_temperature);
  // Its own stream, apart from the selection's dropping draw of the same question.
  const uint64_t seed = mix_seed(params.seed ^ 0x61676772656761ULL, question_key);
  for (auto& subset : draw_subsets(p, params_.keep, params_.candidates, seed)) {
    for (size_t& s : subset) s = out_.references[s];
    out_.subsets.push_back(std::move(subset));
  }
}

const char* to_string(AggregateSkip why) {
  switch (why) {
    case AggregateSkip::kSettled:
      return "settled";
    case AggregateSkip::kNoReferences:
      return "no_references";
    case AggregateSkip::kCircuitOpen:
      return "circuit_open";
    case AggregateSkip::kBudget:
      return "budget";
    case AggregateSkip::kNo:
      break;
  }
  return "";
}

void AggregationInProgress::skip(AggregateSkip why) {
  out_.skipped = why;
  out_.subsets.clear();
}

std::vector<std::string> AggregationInProgress::references_of(size_t call) const {
  std::vector<std::string> refs;
  for (size_t s : out_.subsets[call]) refs.push_back(*texts_[s]);
  return refs;
}

std::vector<std::vector<std::string>> AggregationInProgress::call_references() const {
  std::vector<std::vector<std::string>> out;
  for (size_t j = 0; j < out_.subsets.size(); ++j) out.push_back(references_of(j));
  return out;
}

void AggregationInProgress::take(std::vector<std::optional<AggregateCandidate>> replies,
                                 AnswerKind kind, const Embedder& embedder) {
  replies.resize(out_.subsets.size());
  out_.candidates = std::move(replies);
  out_.scores.assign(out_.candidates.size(), CandidateScore{});
  std::vector<size_t> answered;
  std::vector<std::string> texts;
  std::vector<std::optional<double>> logprobs;
  for (size_t j = 0; j < out_.candidates.size(); ++j)
    if (const auto& c = out_.candidates[j]) {
      answered.push_back(j);
      texts.push_back(kind == AnswerKind::kCode ? extract_answer(kind, c->text) : c->text);
      logprobs.push_back(c->mean_logprob);
    }
  if (answered.empty()) return;  // out_.best stays -1: the select-mode answer stands
  const auto scores =
      any_tool_calls(texts)
          ? score_aggregates_by(
                texts.size(),
                [&](size_t a, size_t b) {
                  return a == b ? 1.0 : answer_similarity(AnswerKind::kCode, texts[a], texts[b]);
                },
                logprobs, params_.ppl_coef)
          : score_aggregates(texts, logprobs, embedder, params_.ppl_coef);
  for (size_t i = 0; i < answered.size(); ++i) out_.scores[answered[i]] = scores[i];
  out_.best = static_cast<int>(answered[static_cast<size_t>(best_candidate(scores))]);
}

std::optional<AggregateCandidate> aggregate_candidate(const nlohmann::json& reply,
                                                      std::string content, size_t max_bytes,
                                                      std::string* why) {
  auto refuse = [&](std::string reason) -> std::optional<AggregateCandidate> {
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  if (content.size() > max_bytes)
    return refuse("the reply has " + std::to_string(content.size()) +
                  " bytes, more than max_candidate_bytes " + std::to_string(max_bytes));
  if (content.find_first_not_of(" \t\r\n") == std::string::npos)
    return refuse("the reply is empty");
  return AggregateCandidate{.text = std::move(content), .mean_logprob = mean_token_logprob(reply)};
}

}  // namespace smacs
