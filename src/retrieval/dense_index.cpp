// Dense embeddings held densely: one contiguous row-major float matrix of unit rows, searched
// exactly by Eigen matrix-vector products in blocks (HNSW on the same vectors: hnsw_index.cpp).
// (A dense vector as a SparseVec would cost the inverted index a posting in every dimension
// of every row.)
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>

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

class DenseExactIndex : public NeighborIndex {
 public:
  DenseExactIndex(const std::vector<SparseVec>& rows, size_t dim) : dim_(dim) {
    matrix_.reserve(rows.size() * dim_);
    for (const auto& r : rows) add(r);
  }

  void add(const SparseVec& row) override {
    const auto unit = unit_dense(row, dim_);
    matrix_.insert(matrix_.end(), unit.begin(), unit.end());
  }

  // Blocks of rows keep each product's output in cache; the selection then reads it once.
  std::vector<Neighbor> search(const SparseVec& q, size_t n, uint32_t exclude) const override {
    const size_t rows = size();
    if (rows == 0 || n == 0) return {};
    const auto unit = unit_dense(q, dim_);
    const Eigen::Map<const Eigen::VectorXf> query(unit.data(), static_cast<Eigen::Index>(dim_));
    std::vector<Neighbor> scored(rows);
    Eigen::VectorXf sims;
    constexpr size_t kBlock = 4096;
    for (size_t start = 0; start < rows; start += kBlock) {
      const size_t count = std::min(kBlock, rows - start);
      const Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>
          block(matrix_.data() + start * dim_, static_cast<Eigen::Index>(count),
                static_cast<Eigen::Index>(dim_));
      sims.noalias() = block * query;
      for (size_t i = 0; i < count; ++i)
        scored[start + i] = {static_cast<uint32_t>(start + i), sims[static_cast<Eigen::Index>(i)]};
    }
    return top_n(std::move(scored), n, exclude);
  }

  size_t size() const override { return matrix_.size() / dim_; }

 private:
  size_t dim_;
  std::vector<float> matrix_;  // rows x dim_, row-major, unit rows
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
