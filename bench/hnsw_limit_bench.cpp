// smacs's HNSW query against a bare hnswlib query on the same vectors (issue 30): the same
// seeded rows go, in the same order and with the same settings, into smacs's dense HNSW index
// and into a hnswlib graph built here by hand, so both graphs are the same; the same queries
// then go through `NeighborIndex::search` (a SparseVec in, neighbours with similarities out)
// and through `searchKnn` on a float array. The ratio of their p50s is what smacs adds to
// hnswlib, the limit. 20,000 rows, so both builds take about a minute on one core.
// Run: build/smacs_bench --benchmark_filter=HnswAgainstBare
#include <benchmark/benchmark.h>

// hnswlib's header defines functions and function pointers that are not inline, and smacs's
// own hnsw_index.cpp already holds one copy: this file's copy lives in a namespace of its own
// (the system and standard headers it includes come first, so they stay outside).
#include <assert.h>
#include <cpuid.h>
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <deque>
#include <fstream>
#include <iostream>
#include <list>
#include <mutex>
#include <queue>
#include <random>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <vector>
namespace bare {
#include <hnswlib/hnswlib.h>
}  // namespace bare

#include <algorithm>
#include <chrono>
#include <vector>

#include "clustered_rows.h"
#include "retrieval/index.h"

using namespace smacs;
using smacs::bench::Clustered;
using smacs::bench::kDim;

namespace {

constexpr size_t kRows = 20000;
constexpr size_t kK = 400;
constexpr HnswSettings kSettings{.m = 16, .ef_construction = 100, .ef = 400};

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

double p50(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void BM_HnswAgainstBareHnswlib(benchmark::State& state) {
  Clustered gen(1);
  std::vector<SparseVec> rows;
  for (size_t i = 0; i < kRows; ++i) rows.push_back(gen.next());
  const auto smacs_index = make_dense_hnsw_index(rows, kDim, kSettings);
  bare::hnswlib::InnerProductSpace space(kDim);
  bare::hnswlib::HierarchicalNSW<float> graph(&space, kRows, kSettings.m,
                                              kSettings.ef_construction);
  graph.setEf(kSettings.ef);
  for (size_t i = 0; i < kRows; ++i) graph.addPoint(rows[i].val.data(), i);  // unit already

  Clustered queries(2);
  std::vector<double> ours, theirs;
  size_t same = 0, total = 0;
  for (auto _ : state) {
    const SparseVec q = queries.next();
    auto start = std::chrono::steady_clock::now();
    const auto got = smacs_index->search(q, kK);
    ours.push_back(ms_since(start));
    start = std::chrono::steady_clock::now();
    auto heap = graph.searchKnn(q.val.data(), kK);
    theirs.push_back(ms_since(start));
    std::vector<uint32_t> want;
    for (; !heap.empty(); heap.pop()) want.push_back(static_cast<uint32_t>(heap.top().second));
    std::sort(want.begin(), want.end());
    for (const Neighbor& n : got) same += std::binary_search(want.begin(), want.end(), n.row);
    total += want.size();
  }
  state.counters["smacs_p50_ms"] = p50(ours);
  state.counters["hnswlib_p50_ms"] = p50(theirs);
  state.counters["ratio"] = p50(ours) / p50(theirs);
  state.counters["same_rows"] = static_cast<double>(same) / static_cast<double>(total);
}
BENCHMARK(BM_HnswAgainstBareHnswlib)->Unit(benchmark::kMillisecond)->Iterations(300);

}  // namespace
