// Dense embeddings held densely: one contiguous row-major float matrix of unit rows, searched
// exactly (HNSW on the same vectors: hnsw_index.cpp). (A dense vector as a SparseVec would cost
// the inverted index a posting in every dimension of every row.)
//
// The exact search reads the rows as int8 codes first, a quarter of the float matrix's bytes
// (the scan is bound by memory bandwidth), and knows how far each code's similarity can be from
// the true one; only the rows that could still be among the n best are scored again from the
// floats, so the answer is the exact one.
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "retrieval/index.h"

namespace smacs {

std::vector<float> unit_dense(const SparseVec& v, size_t dim) {
  std::vector<float> out(dim, 0.0f);
  for (size_t i = 0; i < v.idx.size(); ++i)
    if (v.idx[i] < dim) out[v.idx[i]] = v.val[i];
  make_unit(out);
  return out;
}

void make_unit(std::vector<float>& v) {
  double norm = 0;
  for (float x : v) norm += double(x) * x;
  if (norm > 0)
    for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
}

namespace {

// The n best of `scored` (most similar first, ties by row id), `exclude` left out.
std::vector<Neighbor> top_n(std::vector<Neighbor> scored, size_t n, uint32_t exclude) {
  if (exclude != kNoRow) std::erase_if(scored, [&](const Neighbor& x) { return x.row == exclude; });
  const auto better = [](const Neighbor& a, const Neighbor& b) {
    return a.sim != b.sim ? a.sim > b.sim : a.row < b.row;
  };
  n = std::min(n, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(n), scored.end(),
                    better);
  scored.resize(n);
  return scored;
}

// Sum of a[i] * b[i], compiled for AVX-512 and AVX2 beside the baseline and picked at load time
// (the loop vectorises to widening multiply-adds).
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) int32_t dot_int8(
    const int8_t* a, const int8_t* b, size_t n) {
  int32_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum += int32_t(a[i]) * int32_t(b[i]);
  return sum;
}

// A unit vector as int8 codes times a scale, and the length of what that loses.
struct Code {
  float scale = 0, error = 0;  // x ~ scale * code; error = |x - scale * code|
};
Code quantize(const float* x, size_t dim, int8_t* code) {
  float peak = 0;
  for (size_t i = 0; i < dim; ++i) peak = std::max(peak, std::abs(x[i]));
  Code c{.scale = peak / 127.0f};
  double lost = 0;
  for (size_t i = 0; i < dim; ++i) {
    code[i] = c.scale > 0 ? static_cast<int8_t>(std::lround(x[i] / c.scale)) : 0;
    const double d = double(x[i]) - double(c.scale) * code[i];
    lost += d * d;
  }
  c.error = static_cast<float>(std::sqrt(lost));
  return c;
}

class DenseExactIndex : public NeighborIndex {
 public:
  DenseExactIndex(const std::vector<SparseVec>& rows, size_t dim) : dim_(dim) {
    matrix_.reserve(rows.size() * dim_);
    codes_.reserve(rows.size() * dim_);
    for (const auto& r : rows) add(r);
  }

  void add(const SparseVec& row) override {
    const auto unit = unit_dense(row, dim_);
    matrix_.insert(matrix_.end(), unit.begin(), unit.end());
    codes_.resize(codes_.size() + dim_);
    code_.push_back(quantize(unit.data(), dim_, codes_.data() + codes_.size() - dim_));
  }

  // With x' = x + e (the code) and q' = q + f: |x'.q' - x.q| <= |e| + |f| + |e||f| for unit
  // x and q. A row whose upper bound is below the n-th best lower bound cannot be in the top n.
  std::vector<Neighbor> search(const SparseVec& q, size_t n, uint32_t exclude) const override {
    const size_t rows = size();
    const size_t wanted = std::min(n, rows - (exclude < rows ? 1 : 0));
    if (wanted == 0) return {};
    const auto unit = unit_dense(q, dim_);
    std::vector<int8_t> query(dim_);
    const Code qc = quantize(unit.data(), dim_, query.data());
    std::vector<float> lows(rows), upper(rows);  // each row's bounds
    for (size_t r = 0; r < rows; ++r) {
      const float approx =
          static_cast<float>(dot_int8(codes_.data() + r * dim_, query.data(), dim_)) *
          code_[r].scale * qc.scale;
      const float slack = code_[r].error + qc.error + code_[r].error * qc.error + 1e-5f;
      lows[r] = approx - slack;
      upper[r] = approx + slack;
    }
    if (exclude < rows) lows[exclude] = -std::numeric_limits<float>::infinity();
    std::nth_element(lows.begin(), lows.begin() + static_cast<std::ptrdiff_t>(wanted - 1),
                     lows.end(), std::greater<>());
    const float cut = lows[wanted - 1];
    const Eigen::Map<const Eigen::VectorXf> qv(unit.data(), static_cast<Eigen::Index>(dim_));
    std::vector<Neighbor> scored;
    for (size_t r = 0; r < rows; ++r) {
      if (upper[r] < cut || r == exclude) continue;
      const Eigen::Map<const Eigen::VectorXf> row(matrix_.data() + r * dim_,
                                                  static_cast<Eigen::Index>(dim_));
      scored.push_back({static_cast<uint32_t>(r), row.dot(qv)});
    }
    return top_n(std::move(scored), n, kNoRow);
  }

  size_t size() const override { return code_.size(); }

 private:
  size_t dim_;
  std::vector<float> matrix_;  // rows x dim_, row-major, unit rows
  std::vector<int8_t> codes_;  // the same as int8 codes
  std::vector<Code> code_;     // each row's scale and error
};

}  // namespace

size_t dense_dim(const std::vector<SparseVec>& rows) {
  if (rows.empty() || !is_dense(rows[0])) return 0;
  const size_t dim = rows[0].idx.size();
  for (const auto& r : rows)
    if (r.idx.size() != dim || !is_dense(r)) return 0;
  return dim;
}

std::unique_ptr<NeighborIndex> make_dense_exact_index(const std::vector<SparseVec>& rows,
                                                      size_t dim) {
  return std::make_unique<DenseExactIndex>(rows, dim);
}

}  // namespace smacs
