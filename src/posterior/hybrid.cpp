#include "posterior/hybrid.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "embedding/sparse_vec.h"

namespace smacs {

AgreementRule parse_agreement_rule(const std::string& name) {
  if (name == "answers") return AgreementRule::kAnswers;
  if (name == "responses") return AgreementRule::kResponses;
  throw Error("unknown agreement rule '" + name + "' (expected answers or responses)");
}

TextRule parse_text_rule(const std::string& name) {
  if (name == "hybrid") return TextRule::kHybrid;
  if (name == "consensus") return TextRule::kConsensus;
  if (name == "ranker") return TextRule::kRanker;
  if (name == "blend") return TextRule::kBlend;
  throw Error("unknown text rule '" + name + "' (expected hybrid, consensus, ranker or blend)");
}

const char* to_string(TextRule rule) {
  switch (rule) {
    case TextRule::kConsensus:
      return "consensus";
    case TextRule::kRanker:
      return "ranker";
    case TextRule::kBlend:
      return "blend";
    case TextRule::kHybrid:
      break;
  }
  return "hybrid";
}

namespace {

// Pairwise similarity of the candidates: of their embedded responses (cosines, negatives as 0),
// or of their extracted answers.
std::vector<std::vector<double>> similarities(const std::vector<Candidate>& c, AnswerKind kind,
                                              const std::vector<std::string>& answers,
                                              const Embedder* vectors) {
  const size_t n = c.size();
  std::vector<std::vector<double>> sim(n, std::vector<double>(n, 0.0));
  if (vectors) {
    std::vector<std::string> texts;
    for (size_t j = 0; j < n; ++j)
      texts.push_back(kind == AnswerKind::kCode ? answers[j] : c[j].response);
    const auto v = vectors->embed_all(texts);
    for (size_t j = 0; j < n; ++j)
      for (size_t k = 0; k < n; ++k)
        sim[j][k] = texts[j].empty() || texts[k].empty() ? 0.0 : std::max(0.0f, dot(v[j], v[k]));
    return sim;
  }
  for (size_t j = 0; j < n; ++j)
    for (size_t k = 0; k < n; ++k) sim[j][k] = answer_similarity(kind, answers[j], answers[k]);
  return sim;
}

// Free text under consensus, the ranker or the blend: replaces out.hybrid by the rule's score.
void apply_text_rule(const std::vector<Candidate>& c, TextRule rule, const AnswerRanker* ranker,
                     Posterior& out) {
  std::vector<std::string_view> responses;
  for (const auto& x : c) responses.push_back(x.response);
  out.consensus = consensus_scores(responses, out.prior_norm);
  if (rule == TextRule::kConsensus) {
    out.text_rule = rule;
    out.hybrid = out.consensus;
    return;
  }
  if (!ranker || !ranker->trained()) {
    out.ranker_missing = true;  // the hybrid decides
    return;
  }
  out.text_rule = rule;
  const auto features = answer_features(responses, out.prior_norm, out.consensus);
  for (size_t j = 0; j < c.size(); ++j) {
    out.ranker.push_back(ranker->score(features[j]));
    const double s = 1.0 / (1.0 + std::exp(-out.ranker[j]));
    out.hybrid[j] = rule == TextRule::kRanker ? out.ranker[j] : out.hybrid[j] + s;
  }
}

}  // namespace

Posterior score_candidates(const std::vector<Candidate>& c, AnswerKind kind,
                           const PosteriorParams& p, const Embedder* embedder,
                           const AnswerRanker* ranker) {
  Posterior out;
  const size_t n = c.size();
  if (n == 0) return out;
  double total = 0;
  for (const auto& x : c) total += std::max(0.0, x.prior);
  for (const auto& x : c)
    out.prior_norm.push_back(total > 0 ? std::max(0.0, x.prior) / total
                                       : 1.0 / static_cast<double>(n));
  const bool have_text =
      std::any_of(c.begin(), c.end(), [](const Candidate& x) { return !x.response.empty(); });
  out.used_agreement = p.agreement && have_text && n > 1;
  out.agreement.assign(n, 0.0);
  for (const auto& x : c)
    out.answers.push_back(out.used_agreement ? extract_answer(kind, x.response) : "");
  const bool free_text = is_free_text(kind);
  const bool text_rule = out.used_agreement && free_text && p.text_rule != TextRule::kHybrid;
  // The rules that replace the hybrid need no agreement (embedding long texts is the cost).
  const bool replaced =
      text_rule && (p.text_rule == TextRule::kConsensus ||
                    (p.text_rule == TextRule::kRanker && ranker && ranker->trained()));
  if (out.used_agreement && !replaced) {
    const bool by_vectors = embedder && (free_text || p.rule == AgreementRule::kResponses);
    out.agreement = prior_weighted_agreement(
        similarities(c, kind, out.answers, by_vectors ? embedder : nullptr), out.prior_norm);
  }
  const double alpha = out.used_agreement ? p.alpha : 1.0;
  for (size_t j = 0; j < n; ++j)
    out.hybrid.push_back(alpha * out.prior_norm[j] + (1 - alpha) * out.agreement[j]);
  if (text_rule) apply_text_rule(c, p.text_rule, ranker, out);
  // A reply with no answer to read (a runaway or cut-off response) loses to any that has one,
  // whatever its prior: it cannot be right where answers are extracted.
  const bool extracted = kind == AnswerKind::kChoice || kind == AnswerKind::kNumber ||
                         kind == AnswerKind::kMath || kind == AnswerKind::kLiteral;
  const bool any_answer = std::any_of(out.answers.begin(), out.answers.end(),
                                      [](const std::string& a) { return !a.empty(); });
  if (out.used_agreement && extracted && any_answer)
    for (size_t j = 0; j < n; ++j)
      if (out.answers[j].empty()) out.hybrid[j] -= 2.0;
  for (size_t j = 1; j < n; ++j)
    if (out.hybrid[j] > out.hybrid[out.best]) out.best = j;
  return out;
}

}  // namespace smacs
