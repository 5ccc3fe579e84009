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
#include "posterior/ranker.h"

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

// How free text and code answers are chosen (issue 27): the hybrid above; minimum-Bayes-risk
// consensus (prior-weighted word F1 with the others); the learned ranker (ranker.h); or a
// blend, the hybrid plus the ranker's sigmoid. Without a trained ranker the ranker and the
// blend fall back to the hybrid, and the posterior says so.
enum class TextRule { kHybrid, kConsensus, kRanker, kBlend };
TextRule parse_text_rule(const std::string& name);  // hybrid | consensus | ranker | blend
const char* to_string(TextRule rule);

struct PosteriorParams {
  double alpha = 0.5;     // weight of the prior against agreement
  bool agreement = true;  // off: choose by the prior alone (also when no texts exist)
  AgreementRule rule = AgreementRule::kAnswers;
  TextRule text_rule = TextRule::kHybrid;
};

struct Posterior {
  std::vector<std::string> answers;  // extracted answer per candidate
  std::vector<double> prior_norm, agreement, hybrid;
  size_t best = 0;  // index into the candidates
  bool used_agreement = false;
  // Free text and code under a TextRule other than kHybrid: the rule that chose, and each
  // candidate's consensus and ranker score (empty when not computed).
  TextRule text_rule = TextRule::kHybrid;
  std::vector<double> consensus, ranker;
  bool ranker_missing = false;  // the rule wanted a ranker the bank could not train
};

// Candidates should come in rank order: ties go to the earlier (higher-prior) candidate.
// `embedder` embeds responses for free text and code (null: their normalised texts are
// compared by token overlap instead); `ranker` scores them under TextRule kRanker and kBlend.
Posterior score_candidates(const std::vector<Candidate>& candidates, AnswerKind kind,
                           const PosteriorParams& params, const Embedder* embedder = nullptr,
                           const AnswerRanker* ranker = nullptr);

}  // namespace smacs
