// Retrieval-based Prior Selection, part 2: top-k, then EPE's prior dropping.
//
// The top-1 model is always kept (exploitation). Each other top-k model is dropped with
// probability p_drop and replaced by a model from outside the top-k, drawn in proportion to
// its proxy score (exploration). The draw is seeded, so runs are reproducible.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

namespace smacs {

struct Selection {
  std::vector<int> ranked;        // positions in the pool, best proxy first
  std::vector<int> selected;      // positions in the pool that will be queried, ranked order
  std::vector<int> dropped;       // top-k members dropped
  std::vector<int> replacements;  // their replacements, drawn from outside the top-k
};

Selection select_models(const std::vector<double>& proxy, size_t k, double p_drop, uint64_t seed);

// A small, portable, seedable generator (splitmix64): same numbers on every platform.
struct SplitMix64 {
  uint64_t state;
  uint64_t next();
  double uniform();  // [0, 1)
};

uint64_t mix_seed(uint64_t seed, std::string_view key);

}  // namespace smacs
