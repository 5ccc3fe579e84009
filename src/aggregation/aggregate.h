// The paper's EPE (aggregate mode, method.md 2a), between generation and the posterior: the k
// selected models' replies are *references*; N subsets of them, drawn by their proxy scores
// (the paper's "prior dropping"), each go to an aggregator model that writes a new answer from
// them; the N *candidates* are ranked by the consensus of their response embeddings plus a
// log-probability confidence term.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "embedding/embedder.h"

namespace smacs {

enum class SubsetSampler { kPrior, kSoftmax, kUniform };
SubsetSampler parse_subset_sampler(const std::string& name);  // prior | softmax | uniform
const char* to_string(SubsetSampler sampler);

struct AggregateParams {
  size_t candidates = 8;  // N: aggregator calls, one per subset
  size_t keep = 6;        // x: references per subset (at most the references there are)
  SubsetSampler sampler = SubsetSampler::kPrior;
  double softmax_temperature = 1.0;  // for kSoftmax
  double ppl_coef = 1.0;             // weight of the log-probability confidence
  double temperature = 0.7;          // the aggregator's sampling temperature
  // A candidate longer than this is a failed call: scoring it would cost more than it can
  // bring, and a misbehaving aggregator could hold the gateway with it.
  size_t max_candidate_bytes = 1 << 20;
};

// The draw probabilities of the references from their proxy scores `s` (method.md 2a):
// prior: d = s - min s, D = sum d^2 / sqrt(n), p ~ exp((d - mean d) / D), uniform when D is 0
// or anything is not finite; softmax: p ~ exp(s / T); uniform: 1/n.
std::vector<double> subset_probabilities(const std::vector<double>& s, SubsetSampler sampler,
                                         double softmax_temperature = 1.0);

// N subsets of `keep` reference positions each, drawn without replacement with probabilities
// `p` (renormalised over those left), in draw order; seeded.
std::vector<std::vector<size_t>> draw_subsets(const std::vector<double>& p, size_t keep,
                                              size_t subsets, uint64_t seed);

// The aggregate-and-synthesize block for the system message, with the references of one
// subset numbered in subset order.
std::string aggregator_instruction(const std::vector<std::string>& references);

// The system message the aggregator gets: `existing` (the request's own system message, may be
// empty) with the block appended after a blank line, or the block alone.
std::string aggregator_system_message(const std::string& existing,
                                      const std::vector<std::string>& references);

// The request one aggregator call sends: the client's `request` (user turns unchanged) with
// aggregator_system_message in its system message (added first when it has none), the given
// sampling temperature, and log-probabilities asked for.
nlohmann::json aggregator_request(const nlohmann::json& request,
                                  const std::vector<std::string>& references, double temperature);

// The mean token log-probability of a chat completion's first choice (OpenAI's
// choices[0].logprobs.content[].logprob); nullopt when it carries none.
std::optional<double> mean_token_logprob(const nlohmann::json& reply);

struct CandidateScore {
  double consensus = 0;         // mean cosine to every candidate, itself included
  std::optional<double> ppl{};  // 1 - exp(-mean token logprob), when logprobs came back
  double total = 0;  // consensus + ppl_coef * ppl (no ppl: the mean of the others' ppl)
};

// Scores the candidates' texts (for code, pass the extracted code): embeddings from
// `embedder`; `mean_logprobs[j]` the mean token log-probability of candidate j (nullopt: none).
std::vector<CandidateScore> score_aggregates(
    const std::vector<std::string>& texts, const std::vector<std::optional<double>>& mean_logprobs,
    const Embedder& embedder, double ppl_coef);

// The same with agreement given as a similarity of candidates i and j in [0, 1] (tool calls
// agree by function and arguments, not by embedding).
std::vector<CandidateScore> score_aggregates_by(
    size_t n, const std::function<double(size_t, size_t)>& similarity,
    const std::vector<std::optional<double>>& mean_logprobs, double ppl_coef);

// The best total, ties to the earliest; -1 when there is none.
int best_candidate(const std::vector<CandidateScore>& scores);

}  // namespace smacs
