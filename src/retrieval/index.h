// Nearest-neighbour search over the prior bank's question embeddings (cosine similarity).
#pragma once
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "embedding/sparse_vec.h"

namespace smacs {

struct Neighbor {
  uint32_t row;  // bank row
  float sim;     // cosine similarity
};

inline constexpr uint32_t kNoRow = std::numeric_limits<uint32_t>::max();

class NeighborIndex {
 public:
  virtual ~NeighborIndex() = default;
  virtual void add(const SparseVec& v) = 0;  // row ids are assigned in order: 0, 1, ...
  // The n most similar rows, most similar first (ties by row id); `exclude` is left out.
  virtual std::vector<Neighbor> search(const SparseVec& q, size_t n,
                                       uint32_t exclude = kNoRow) const = 0;
  virtual size_t size() const = 0;
};

enum class IndexKind { kExact, kHnsw };
IndexKind parse_index_kind(const std::string& name);  // "exact" | "hnsw"
std::unique_ptr<NeighborIndex> make_index(IndexKind kind, size_t expected_rows = 0);

// Exact cosine search through an inverted index: cost grows with the query's postings.
std::unique_ptr<NeighborIndex> make_exact_index();

// Approximate search (hnswlib) on a dense signed feature-hashing projection of the vectors.
std::unique_ptr<NeighborIndex> make_hnsw_index(size_t dim = 256, size_t expected_rows = 1024);

// The dense projection the HNSW index uses: each term adds ±weight to one of `dim` slots.
std::vector<float> project_dense(const SparseVec& v, size_t dim);

}  // namespace smacs
