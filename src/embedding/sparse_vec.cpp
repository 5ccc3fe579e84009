#include "embedding/sparse_vec.h"

#include <cmath>
#include <utility>

namespace smacs {

SparseVec dense_vector(std::vector<float> values) {
  SparseVec v;
  v.idx.resize(values.size());
  for (size_t i = 0; i < v.idx.size(); ++i) v.idx[i] = static_cast<uint32_t>(i);
  v.val = std::move(values);
  return v;
}

bool is_dense(const SparseVec& v) {
  for (size_t i = 0; i < v.idx.size(); ++i)
    if (v.idx[i] != i) return false;
  return !v.idx.empty();
}

float dot(const SparseVec& a, const SparseVec& b) {
  float sum = 0;
  size_t i = 0, j = 0;
  while (i < a.idx.size() && j < b.idx.size()) {
    if (a.idx[i] < b.idx[j])
      ++i;
    else if (a.idx[i] > b.idx[j])
      ++j;
    else
      sum += a.val[i++] * b.val[j++];
  }
  return sum;
}

void l2_normalize(SparseVec& v) {
  double norm = 0;
  for (float x : v.val) norm += double(x) * x;
  if (norm <= 0) return;
  const float inv = static_cast<float>(1.0 / std::sqrt(norm));
  for (float& x : v.val) x *= inv;
}

}  // namespace smacs
