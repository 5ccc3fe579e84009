// A sparse vector: sorted term ids with weights. Dense embeddings use ids 0..d-1.
#pragma once
#include <cstdint>
#include <vector>

namespace smacs {

struct SparseVec {
  std::vector<uint32_t> idx;  // strictly increasing
  std::vector<float> val;
};

float dot(const SparseVec& a, const SparseVec& b);
void l2_normalize(SparseVec& v);

}  // namespace smacs
