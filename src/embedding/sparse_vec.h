// A sparse vector: sorted term ids with weights. Dense embeddings use ids 0..d-1.
#pragma once
#include <cstdint>
#include <vector>

namespace smacs {

struct SparseVec {
  std::vector<uint32_t> idx;  // strictly increasing
  std::vector<float> val;
};

// A dense embedding (ids 0..n-1) of these values, as they are (not normalised).
SparseVec dense_vector(std::vector<float> values);
bool is_dense(const SparseVec& v);  // ids are exactly 0..n-1, n > 0

float dot(const SparseVec& a, const SparseVec& b);
void l2_normalize(SparseVec& v);

}  // namespace smacs
