// Exploration-Exploitation-Driven Posterior Enhancement: the hybrid posterior score.
//
//   H_j = alpha * Pn(m_j) + (1 - alpha) * C_j
//
// Pn is the proxy score normalised over the candidates; C_j is the prior-weighted agreement
// of response j with the other candidates' responses: equal extracted answers for choice,
// number, math and literals; for free text and code the cosine of their embeddings (by the
// bank's embedder; of the extracted code for code), which says more than string overlap.
#pragma once
#include <string>
#include <vector>

#include "answers/extract.h"
#include "embedding/embedder.h"

namespace smacs {

struct Candidate {
  int member;            // position in the pool
  double prior;          // proxy score P_m
  std::string response;  // the model's answer text ("" when only scores are known)
};

// What agreement compares: extracted answers where a kind has them (default), or whole
// responses by embedding for every kind (the paper's consensus; an ablation).
enum class AgreementRule { kAnswers, kResponses };
AgreementRule parse_agreement_rule(const std::string& name);  // "answers" | "responses"

struct PosteriorParams {
  double alpha = 0.5;     // weight of the prior against agreement
  bool agreement = true;  // off: choose by the prior alone (also when no texts exist)
  AgreementRule rule = AgreementRule::kAnswers;
};

struct Posterior {
  std::vector<std::string> answers;  // extracted answer per candidate
  std::vector<double> prior_norm, agreement, hybrid;
  size_t best = 0;  // index into the candidates
  bool used_agreement = false;
};

// Candidates should come in rank order: ties go to the earlier (higher-prior) candidate.
// `embedder` embeds responses for free text and code (null: their normalised texts are
// compared by token overlap instead).
Posterior score_candidates(const std::vector<Candidate>& candidates, AnswerKind kind,
                           const PosteriorParams& params, const Embedder* embedder = nullptr);

}  // namespace smacs
