// Issue 4 target: a 1M-row bank opens and serves its first query in < 2 s. The bank (synthetic
// questions, 6 models) is generated once into /tmp/smacs-bench-1m.sqlite (its snapshot beside it).
// Issue 30 target: the same bank embedded by a dense 1,024-d embedder opens from its snapshot
// (the float matrix in the side file) in < 5 s (`--benchmark_filter=DenseMillion`; the first
// run embeds and saves it: about 8 minutes and 13 GB of memory).
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <chrono>
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

// A pretrained embedder without weights: each question is one of 2,000 seeded 1,024-d centres
// (picked by its hash) plus noise from the same hash, so that equal texts get equal vectors.
class ClusterEmbedder final : public Embedder {
 public:
  static constexpr size_t kDim = 1024, kCentres = 2000;
  ClusterEmbedder() : centres_(kCentres * kDim) {
    std::mt19937_64 rng(11);
    std::normal_distribution<float> normal(0, 1);
    for (float& x : centres_) x = normal(rng);
  }
  void fit(const std::vector<std::string>&) override {}
  SparseVec embed(std::string_view text) const override {
    uint64_t h = std::hash<std::string_view>{}(text) | 1;
    const float* centre = centres_.data() + (h % kCentres) * kDim;
    std::vector<float> v(centre, centre + kDim);
    for (float& x : v) {  // xorshift noise: a million texts embed in seconds
      h ^= h << 13, h ^= h >> 7, h ^= h << 17;
      x += static_cast<float>(static_cast<int64_t>(h >> 40) - (1 << 23)) / float(1 << 23);
    }
    return dense_vector(std::move(v));
  }
  std::string name() const override { return "cluster-1024"; }

 private:
  std::vector<float> centres_;
};

BankOptions dense_options() {
  static const auto embedder = std::make_shared<ClusterEmbedder>();
  return {.index = IndexKind::kExact, .embedder = embedder, .progress = {}, .reuse_rows = nullptr};
}

// Opening the dense bank from its snapshot (records, then the 5 GB matrix and codes) plus a
// first query. The first run builds it: embeds a million questions and writes the snapshot.
void BM_DenseMillionBankOpensFromItsSnapshot(benchmark::State& state) {
  make_bank_once(1000000);
  const BankOptions options = dense_options();
  const std::string snap = snapshot_path(kPath, options);
  if (!std::filesystem::exists(snap)) {
    const auto start = std::chrono::steady_clock::now();
    open_bank(kPath, options);
    state.counters["first_build_s"] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  for (auto _ : state) {
    const PriorBank bank = open_bank(kPath, options);
    benchmark::DoNotOptimize(bank.index->search(bank.embedder->embed("w17 w4242 w99"), 401));
  }
  state.counters["index_file_GiB"] =
      static_cast<double>(std::filesystem::file_size(snap + ".index")) / double(1u << 30);
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  state.counters["peak_rss_GiB"] = static_cast<double>(u.ru_maxrss) / double(1u << 20);
}
BENCHMARK(BM_DenseMillionBankOpensFromItsSnapshot)
    ->Unit(benchmark::kSecond)
    ->UseRealTime()
    ->Iterations(1);

}  // namespace
