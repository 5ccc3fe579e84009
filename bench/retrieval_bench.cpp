// Speed targets (issue 2): the full routerdc eval under 5 s including bank building, and ANN
// retrieval on a 1M-question bank under 2 ms per query. Run: build/smacs_bench
#include <benchmark/benchmark.h>

#include <random>

#include "data/load.h"
#include "eval/evaluate.h"

using namespace smacs;

namespace {

std::vector<std::string> routerdc(const std::string& split) {
  const std::string dir = std::string(SMACS_SHARED_DATA) + "/routerdc/";
  std::vector<std::string> files;
  for (const char* t : {"mmlu", "cmmlu", "arc_challenge", "humaneval"})
    files.push_back(dir + t + "_" + split + ".json");
  files.push_back(dir + "gsm8k-" + split + ".json");
  return files;
}

// Load + embed + index the bank, then evaluate every test question (what `smacs eval` does).
void BM_FullRouterDcEval(benchmark::State& state) {
  for (auto _ : state) {
    const PriorBank bank = build_bank(load_files(routerdc("train")));
    const Dataset test = load_files(routerdc("test"));
    const SmacsParams p;
    const EvalReport r = run_eval(prepare_eval(bank, test, {}, {}, p.rps.retrieval_depth()), p);
    benchmark::DoNotOptimize(r.average);
  }
}
BENCHMARK(BM_FullRouterDcEval)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

// One gateway question's retrieval (embed + exact search, the default) on RouterBench ARC:
// ~2,000-character few-shot prompts whose shared examples put many terms in every question.
void BM_RouterBenchQuery(benchmark::State& state) {
  const std::string dir = std::string(SMACS_SHARED_DATA) + "/routerbench/";
  static const PriorBank bank = build_bank(load_files({dir + "arc_challenge_train.csv"}));
  static const Dataset test = load_files({dir + "arc_challenge_test.csv"});
  size_t i = 0;
  for (auto _ : state) {
    const auto& q = test.records[i++ % test.records.size()].question;
    benchmark::DoNotOptimize(bank.index->search(bank.embedder->embed(q), 200));
  }
}
BENCHMARK(BM_RouterBenchQuery)->Unit(benchmark::kMicrosecond);

void BM_RouterBenchEmbedOnly(benchmark::State& state) {
  const std::string dir = std::string(SMACS_SHARED_DATA) + "/routerbench/";
  static const PriorBank bank = build_bank(load_files({dir + "arc_challenge_train.csv"}));
  static const Dataset test = load_files({dir + "arc_challenge_test.csv"});
  size_t i = 0;
  for (auto _ : state)
    benchmark::DoNotOptimize(
        bank.embedder->embed(test.records[i++ % test.records.size()].question));
}
BENCHMARK(BM_RouterBenchEmbedOnly)->Unit(benchmark::kMicrosecond);

SparseVec random_question(std::mt19937& rng) {
  std::uniform_int_distribution<uint32_t> term(0, 200000);
  std::vector<uint32_t> ids;
  for (int i = 0; i < 40; ++i) ids.push_back(term(rng));
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  SparseVec v{ids, std::vector<float>(ids.size(), 1.0f)};
  l2_normalize(v);
  return v;
}

// ANN over a synthetic bank of state.range(0) questions (1M by default: building takes minutes).
void BM_HnswQuery(benchmark::State& state) {
  static std::unique_ptr<NeighborIndex> index;
  static int64_t built = 0;
  std::mt19937 rng(1);
  if (built != state.range(0)) {
    std::vector<SparseVec> rows;
    for (int64_t i = 0; i < state.range(0); ++i) rows.push_back(random_question(rng));
    index = make_hnsw_index(rows);
    built = state.range(0);
  }
  for (auto _ : state) benchmark::DoNotOptimize(index->search(random_question(rng), 200));
}
BENCHMARK(BM_HnswQuery)->Arg(1000000)->Unit(benchmark::kMicrosecond);

}  // namespace
