#include "aggregation/aggregate.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>

#include "api/openai_api.h"
#include "core/error.h"
#include "embedding/sparse_vec.h"
#include "selection/select.h"

namespace smacs {

SubsetSampler parse_subset_sampler(const std::string& name) {
  if (name == "prior") return SubsetSampler::kPrior;
  if (name == "softmax") return SubsetSampler::kSoftmax;
  if (name == "uniform") return SubsetSampler::kUniform;
  throw Error("unknown sampler '" + name + "' (expected prior, softmax or uniform)");
}

const char* to_string(SubsetSampler sampler) {
  switch (sampler) {
    case SubsetSampler::kPrior:
      return "prior";
    case SubsetSampler::kSoftmax:
      return "softmax";
    case SubsetSampler::kUniform:
      return "uniform";
  }
  return "prior";
}

namespace {

std::vector<double> uniform(size_t n) { return std::vector<double>(n, n ? 1.0 / n : 0.0); }

// p ~ exp(z), shifted by the largest z so nothing overflows; uniform if anything is not finite.
std::vector<double> normalised_exp(const std::vector<double>& z) {
  if (z.empty()) return {};
  const double top = *std::max_element(z.begin(), z.end());
  std::vector<double> p(z.size());
  double sum = 0;
  for (size_t i = 0; i < z.size(); ++i) sum += p[i] = std::exp(z[i] - top);
  if (!std::isfinite(sum) || sum <= 0) return uniform(z.size());
  for (double& v : p) v /= sum;
  return p;
}

}  // namespace

std::vector<double> subset_probabilities(const std::vector<double>& s, SubsetSampler sampler,
                                         double softmax_temperature) {
  const size_t n = s.size();
  if (n == 0) return {};
  if (std::any_of(s.begin(), s.end(), [](double v) { return !std::isfinite(v); }))
    return uniform(n);
  if (sampler == SubsetSampler::kUniform) return uniform(n);
  std::vector<double> z(n);
  if (sampler == SubsetSampler::kSoftmax) {
    if (!(softmax_temperature > 0)) return uniform(n);
    for (size_t i = 0; i < n; ++i) z[i] = s[i] / softmax_temperature;
    return normalised_exp(z);
  }
  const double low = *std::min_element(s.begin(), s.end());
  std::vector<double> d(n);
  double squares = 0, mean = 0;
  for (size_t i = 0; i < n; ++i) {
    d[i] = s[i] - low;
    squares += d[i] * d[i];
    mean += d[i] / static_cast<double>(n);
  }
  const double spread = squares / std::sqrt(static_cast<double>(n));
  if (!(spread > 0) || !std::isfinite(spread)) return uniform(n);
  for (size_t i = 0; i < n; ++i) z[i] = (d[i] - mean) / spread;
  return normalised_exp(z);
}

std::vector<std::vector<size_t>> draw_subsets(const std::vector<double>& p, size_t keep,
                                              size_t subsets, uint64_t seed) {
  keep = std::min(keep, p.size());
  SplitMix64 rng{seed};
  std::vector<std::vector<size_t>> out;
  for (size_t s = 0; s < subsets; ++s) {
    std::vector<double> left = p;
    std::vector<size_t> subset;
    while (subset.size() < keep) {
      const double total = std::accumulate(left.begin(), left.end(), 0.0);
      double u = rng.uniform() * total;
      size_t pick = 0;
      // The last position with weight left, if rounding runs past the end.
      for (size_t i = 0; i < left.size(); ++i)
        if (left[i] > 0) {
          pick = i;
          if ((u -= left[i]) < 0) break;
        }
      if (total <= 0)  // every weight spent: the next unused position
        while (std::find(subset.begin(), subset.end(), pick) != subset.end()) ++pick;
      subset.push_back(pick);
      left[pick] = 0;
    }
    out.push_back(std::move(subset));
  }
  return out;
}

std::string aggregator_instruction(const std::vector<std::string>& references) {
  std::string out =
      "You have been provided with a set of responses from various models to the latest user "
      "query. Your task is to synthesize these responses into a single, high-quality response. "
      "Critically evaluate the information in them, recognizing that some of it may be biased "
      "or incorrect. Do not simply copy one of the given answers: write one refined, accurate "
      "and complete reply to the instruction, well structured and coherent, held to the "
      "highest standards of accuracy and reliability.\n\nResponses from models:";
  for (size_t i = 0; i < references.size(); ++i)
    out.append("\n").append(std::to_string(i + 1)).append(". ").append(references[i]);
  return out;
}

std::string aggregator_system_message(const std::string& existing,
                                      const std::vector<std::string>& references) {
  const std::string block = aggregator_instruction(references);
  if (existing.empty()) return block;
  std::string out = existing;
  out.append("\n\n").append(block);
  return out;
}

nlohmann::json aggregator_request(const nlohmann::json& request,
                                  const std::vector<std::string>& references, double temperature) {
  nlohmann::json out = request;
  nlohmann::json& messages = out["messages"];
  auto system = std::find_if(messages.begin(), messages.end(), [](const nlohmann::json& m) {
    return m.is_object() && m.value("role", "") == "system";
  });
  if (system == messages.end()) {
    const nlohmann::json system_message = {{"role", "system"},
                                           {"content", aggregator_system_message("", references)}};
    messages.insert(messages.begin(), system_message);  // one object, not its two pairs
  } else {
    const auto existing = content_text(system->value("content", nlohmann::json("")));
    (*system)["content"] = aggregator_system_message(existing.value_or(""), references);
  }
  out["temperature"] = temperature;
  out["logprobs"] = true;
  out.erase("n");  // one candidate per call: the subsets are the exploration
  return out;
}

std::optional<double> mean_token_logprob(const nlohmann::json& reply) {
  if (!reply.is_object()) return std::nullopt;
  const auto choices = reply.find("choices");
  if (choices == reply.end() || !choices->is_array() || choices->empty()) return std::nullopt;
  const auto& choice = choices->front();
  if (!choice.is_object() || !choice.contains("logprobs")) return std::nullopt;
  const auto& logprobs = choice["logprobs"];
  if (!logprobs.is_object() || !logprobs.contains("content")) return std::nullopt;
  const auto& tokens = logprobs["content"];
  if (!tokens.is_array() || tokens.empty()) return std::nullopt;
  double sum = 0;
  size_t n = 0;
  for (const auto& t : tokens) {
    const auto lp = t.is_object() ? t.find("logprob") : t.end();
    if (lp == t.end() || !lp->is_number()) continue;
    sum += lp->get<double>();
    ++n;
  }
  if (n == 0 || !std::isfinite(sum)) return std::nullopt;
  return sum / static_cast<double>(n);
}

std::vector<CandidateScore> score_aggregates_by(
    size_t n, const std::function<double(size_t, size_t)>& similarity,
    const std::vector<std::optional<double>>& mean_logprobs, double ppl_coef) {
  std::vector<CandidateScore> out(n);
  double ppl_sum = 0;
  size_t with_ppl = 0;
  for (size_t j = 0; j < n; ++j) {
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += similarity(j, i);
    out[j].consensus = sum / static_cast<double>(n);
    if (j < mean_logprobs.size() && mean_logprobs[j] && std::isfinite(*mean_logprobs[j])) {
      out[j].ppl = 1.0 - std::exp(-*mean_logprobs[j]);
      ppl_sum += *out[j].ppl;
      ++with_ppl;
    }
  }
  // The term is <= 0 where logprobs came: a candidate without them is neutral (the others'
  // mean), never better than every candidate that sent them.
  const double neutral = with_ppl ? ppl_sum / static_cast<double>(with_ppl) : 0.0;
  for (auto& c : out) c.total = c.consensus + ppl_coef * c.ppl.value_or(neutral);
  return out;
}

std::vector<CandidateScore> score_aggregates(
    const std::vector<std::string>& texts, const std::vector<std::optional<double>>& mean_logprobs,
    const Embedder& embedder, double ppl_coef) {
  const std::vector<SparseVec> vecs = embedder.embed_all(texts);
  return score_aggregates_by(
      texts.size(), [&](size_t j, size_t i) { return dot(vecs[j], vecs[i]); },  // unit: cosine
      mean_logprobs, ppl_coef);
}

int best_candidate(const std::vector<CandidateScore>& scores) {
  int best = -1;
  for (size_t j = 0; j < scores.size(); ++j)
    if (best < 0 || scores[j].total > scores[static_cast<size_t>(best)].total)
      best = static_cast<int>(j);
  return best;
}

}  // namespace smacs
