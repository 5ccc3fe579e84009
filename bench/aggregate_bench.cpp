// Issue 20 target: the aggregate step's own cost (7 references' priors -> 8 subsets of 6, the 8
// aggregator prompts, 8 candidates of 2 KB embedded with TF-IDF and scored) < 1 ms per request
// on one core.
#include <benchmark/benchmark.h>

#include <random>

#include "aggregation/aggregate.h"
#include "embedding/tfidf.h"

using namespace smacs;

namespace {

std::string text_of(std::mt19937& rng, size_t bytes) {
  std::uniform_int_distribution<int> word(0, 3000);
  std::string out;
  while (out.size() < bytes) out.append("w").append(std::to_string(word(rng))).append(" ");
  return out;
}

void BM_AggregateStep(benchmark::State& state) {
  std::mt19937 rng(5);
  std::vector<std::string> corpus;
  for (int i = 0; i < 2000; ++i) corpus.push_back(text_of(rng, 300));
  TfidfEmbedder embedder;
  embedder.fit(corpus);
  std::vector<std::string> references, candidates;
  for (int i = 0; i < 7; ++i) references.push_back(text_of(rng, 2048));
  for (int i = 0; i < 8; ++i) candidates.push_back(text_of(rng, 2048));
  const std::vector<double> priors = {0.91, 0.88, 0.86, 0.8, 0.74, 0.7, 0.52};
  const std::vector<std::optional<double>> logprobs(8, -0.2);
  uint64_t seed = 1;
  for (auto _ : state) {
    const auto p = subset_probabilities(priors, SubsetSampler::kPrior);
    const auto subsets = draw_subsets(p, 6, 8, seed++);
    size_t prompt_bytes = 0;
    for (const auto& s : subsets) {
      std::vector<std::string> refs;
      for (size_t i : s) refs.push_back(references[i]);
      prompt_bytes += aggregator_system_message("", refs).size();
    }
    const auto scores = score_aggregates(candidates, logprobs, embedder, 1.0);
    benchmark::DoNotOptimize(prompt_bytes);
    benchmark::DoNotOptimize(best_candidate(scores));
  }
}
BENCHMARK(BM_AggregateStep)->Unit(benchmark::kMicrosecond);

}  // namespace
