// Issue 4 target: a 1M-row bank opens and serves its first query in < 2 s. The bank (synthetic
// questions, 6 models) is generated once into /tmp/smacs-bench-1m.sqlite (its snapshot beside it).
#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>

#include "bank/bank_store.h"
#include "bank/snapshot.h"
#include "pipeline/smacs.h"

using namespace smacs;

namespace {

const char* kPath = "/tmp/smacs-bench-1m.sqlite";

void make_bank_once(size_t rows) {
  if (std::filesystem::exists(kPath)) return;
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> word(0, 20000), len(8, 30);
  std::uniform_real_distribution<float> score(0, 1);
  Dataset d;
  d.models = {"m1", "m2", "m3", "m4", "m5", "m6"};
  for (size_t i = 0; i < rows; ++i) {
    Record r;
    r.id = 'q';
    r.id += std::to_string(i);
    r.task = "task";
    r.task += std::to_string(i % 20);
    for (int w = len(rng); w > 0; --w) {
      r.question += 'w';
      r.question += std::to_string(word(rng));
      r.question += ' ';
    }
    for (size_t m = 0; m < d.models.size(); ++m)
      r.scores.push_back(score(rng) < 0.6f ? 1.0f : 0.0f);
    d.records.push_back(std::move(r));
  }
  save_bank(d, kPath);
}

void open_and_query() {
  const PriorBank bank = open_bank(kPath);
  SmacsParams p;
  std::vector<int> pool = {0, 1, 2, 3, 4, 5};
  const auto nb = retrieve(bank, "w17 w4242 w99 w1234 w8", p.rps);
  benchmark::DoNotOptimize(plan_from_neighbors(bank, nb, pool, p, "first"));
}

// The target: opening (from the snapshot a previous open left beside the bank) plus the first
// query.
void BM_OpenMillionRowBankAndFirstQuery(benchmark::State& state) {
  make_bank_once(1000000);
  if (!std::filesystem::exists(snapshot_path(kPath))) open_bank(kPath);
  for (auto _ : state) open_and_query();
}
BENCHMARK(BM_OpenMillionRowBankAndFirstQuery)
    ->Unit(benchmark::kSecond)
    ->UseRealTime()
    ->Iterations(1);

// The first open after the bank changed: read SQLite, build, write the snapshot, query.
void BM_OpenMillionRowBankWithoutSnapshot(benchmark::State& state) {
  make_bank_once(1000000);
  for (auto _ : state) {
    std::filesystem::remove(snapshot_path(kPath));
    open_and_query();
  }
}
BENCHMARK(BM_OpenMillionRowBankWithoutSnapshot)
    ->Unit(benchmark::kSecond)
    ->UseRealTime()
    ->Iterations(1);

// The parts of the cold path: reading the SQLite rows, and building the bank from them.
void BM_ReadMillionRowBankData(benchmark::State& state) {
  make_bank_once(1000000);
  for (auto _ : state) benchmark::DoNotOptimize(load_bank_data(kPath));
}
BENCHMARK(BM_ReadMillionRowBankData)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);

void BM_BuildMillionRowBank(benchmark::State& state) {
  make_bank_once(1000000);
  Dataset data = load_bank_data(kPath);
  for (auto _ : state) benchmark::DoNotOptimize(build_bank(data));
}
BENCHMARK(BM_BuildMillionRowBank)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);

}  // namespace
