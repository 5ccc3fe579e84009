// Synthetic dense question embeddings for the retrieval benchmarks, seeded: kDim dimensions,
// 2,000 Gaussian cluster centres (the same for every seed), each row a centre plus noise (so rows
// have near neighbours, as real question embeddings do), unit length.
#pragma once
#include <random>
#include <vector>

#include "embedding/sparse_vec.h"

namespace smacs::bench {

inline constexpr size_t kDim = 1024;

// Rows and queries come from the same 2,000 centres (seeded apart from the noise): queries
// drawn around other centres than the rows' have only noise-level neighbours, which no graph
// search finds (recall@400 was 0.17 at 1M and 0.49 at 100k that way).
class Clustered {
 public:
  explicit Clustered(uint64_t seed) : rng_(seed) {
    std::mt19937_64 centre_rng(1);
    centres_.resize(2000 * kDim);
    for (auto& x : centres_) x = gauss_(centre_rng);
  }
  SparseVec next() {
    const size_t c = rng_() % 2000;
    std::vector<float> v(kDim);
    for (size_t i = 0; i < kDim; ++i) v[i] = centres_[c * kDim + i] + 0.8f * gauss_(rng_);
    SparseVec s = dense_vector(std::move(v));
    l2_normalize(s);
    return s;
  }

 private:
  std::mt19937_64 rng_;
  std::normal_distribution<float> gauss_;
  std::vector<float> centres_;
};

}  // namespace smacs::bench
