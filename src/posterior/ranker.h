// A learned answer ranker for free text and code (in the spirit of LLM-Blender's PairRanker):
// a linear score over features of each candidate relative to the others, fitted pairwise on
// the bank's judged answers to the same question, so that P(a beats b) = sigmoid(w . (f_a -
// f_b)). Agreement says which answers are alike; the ranker has learned what the judge
// preferred: length and structure relative to the other candidates, refusal and truncation
// signs, the answering model's prior here, and its consensus with the others.
#pragma once
#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace smacs {

inline constexpr size_t kRankerFeatures = 12;
using RankerFeatures = std::array<double, kRankerFeatures>;
const std::array<const char*, kRankerFeatures>& ranker_feature_names();

// Per candidate: its similarity with the others (sim[j][k]), weighted by their priors: the
// hybrid posterior's agreement and the consensus below.
std::vector<double> prior_weighted_agreement(const std::vector<std::vector<double>>& sim,
                                             const std::vector<double>& prior_norm);

// Minimum-Bayes-risk consensus: per candidate, the prior-weighted mean word-level F1
// (ROUGE-1) with the other candidates' responses (0 for a lone or empty response).
std::vector<double> consensus_scores(const std::vector<std::string_view>& responses,
                                     const std::vector<double>& prior_norm);

// Per candidate, its features relative to the candidate set (`prior_norm` sums to 1).
std::vector<RankerFeatures> answer_features(const std::vector<std::string_view>& responses,
                                            const std::vector<double>& prior_norm,
                                            const std::vector<double>& consensus);

struct AnswerRanker {
  RankerFeatures weights{};
  size_t questions = 0, pairs = 0;  // what it was fitted on (0: untrained)
  bool trained() const { return pairs > 0; }
  double score(const RankerFeatures& f) const;
};

// One judged question: its candidates' responses, priors (normalised over them) and judged
// scores (0..1).
struct JudgedQuestion {
  std::vector<std::string_view> responses;
  std::vector<double> prior_norm, score;
};

// Pairwise logistic regression (Newton's method, L2 penalty `l2`), each pair weighted by its
// score gap; pairs closer than `min_gap` say nothing and are skipped. Deterministic.
AnswerRanker fit_ranker(const std::vector<JudgedQuestion>& questions, double l2 = 1.0,
                        double min_gap = 0.02);

}  // namespace smacs
