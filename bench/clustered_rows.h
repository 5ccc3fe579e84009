// Synthetic dense question embeddings for the retrieval benchmarks, seeded: kDim dimensions,
// 2,000 Gaussian cluster centres, each row a centre plus noise (so rows have near neighbours,
// as real question embeddings do), unit length.
#pragma once
#include <random>
#include <vector>

#include "embedding/sparse_vec.h"

namespace smacs::bench {

inline constexpr size_t kDim = 1024;

class Clustered {
 public:
  explicit Clustered(uint64_t seed) : rng_(seed) {
    centres_.resize(2000 * kDim);
    for (auto& x : centres_) x = gauss_(rng_);
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
