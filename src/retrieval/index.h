// Nearest-neighbour search over the prior bank's question embeddings (cosine similarity).
#pragma once
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "embedding/sparse_vec.h"

namespace smacs {

struct Neighbor {
  uint32_t row;  // bank row
  float sim;     // cosine similarity
};

inline constexpr uint32_t kNoRow = std::numeric_limits<uint32_t>::max();

// The order every index answers in: most similar first, then by row id (a total order).
inline bool more_similar(const Neighbor& a, const Neighbor& b) {
  return a.sim != b.sim ? a.sim > b.sim : a.row < b.row;
}

// The exact index's postings, term-major (compressed sparse rows): the postings of terms[t] are
// rows/weights[offsets[t] .. offsets[t+1]), in row order. What the bank snapshot stores. Views
// of memory `owner` keeps: the index's own vectors when built, the mapped snapshot when read
// from it (used in place: a reload maps a file instead of copying half a gigabyte).
struct Postings {
  uint32_t n_rows = 0;
  std::span<const uint32_t> terms;    // sorted
  std::span<const uint64_t> offsets;  // terms.size() + 1
  std::span<const uint32_t> rows;
  std::span<const float> weights;
  std::shared_ptr<const void> owner;
};

// Built from all the bank's vectors (row i = rows[i]); searches are thread-safe, and rows may
// be appended (add) while no search runs.
class NeighborIndex {
 public:
  virtual ~NeighborIndex() = default;
  // Appends the next row (its id is size() before the call): online feedback, without a
  // rebuild. Not thread-safe against search: the caller holds a writer's lock.
  virtual void add(const SparseVec& row) = 0;
  // The n most similar rows, most similar first (ties by row id); `exclude` is left out.
  virtual std::vector<Neighbor> search(const SparseVec& q, size_t n,
                                       uint32_t exclude = kNoRow) const = 0;
  virtual size_t size() const = 0;
  // The exact index's, to persist; nullptr for HNSW and once rows were added.
  virtual const Postings* postings() const { return nullptr; }
  // A dense index's width d (0 for the sparse ones): it can be written to a file of its own
  // (save_dense) and read back (load_dense_index) without embedding its rows again.
  virtual size_t dense_width() const { return 0; }
  virtual void save_dense(const std::string& path) const;  // throws smacs::Error
};

enum class IndexKind { kExact, kHnsw };
IndexKind parse_index_kind(const std::string& name);  // "exact" | "hnsw"
// Dense rows (a dense embedder's: every row ids 0..d-1) get a dense index of that kind
// (retrieval/dense_index.cpp); sparse ones (TF-IDF) the inverted index or the hashed HNSW.
std::unique_ptr<NeighborIndex> make_index(IndexKind kind, const std::vector<SparseVec>& rows);

// hnswlib's settings: links per node, the build's and the search's candidate lists (a search
// looks at max(ef, n) candidates).
struct HnswSettings {
  size_t m = 16;
  size_t ef_construction = 100;
  size_t ef = 64;
};

// d when every row is dense with the same d dimensions (ids 0..d-1), else 0.
size_t dense_dim(const std::vector<SparseVec>& rows);
// Exact cosine search over one contiguous float matrix of unit rows: Eigen matrix-vector
// products in blocks.
std::unique_ptr<NeighborIndex> make_dense_exact_index(const std::vector<SparseVec>& rows,
                                                      size_t dim);
// hnswlib over the real (unit) vectors.
std::unique_ptr<NeighborIndex> make_dense_hnsw_index(const std::vector<SparseVec>& rows, size_t dim,
                                                     const HnswSettings& settings = {});
// The dense indexes save_dense() wrote to `path` (the exact index's rows and codes; hnswlib's
// own file); throw smacs::Error when the file holds no such index of `dim` dimensions.
std::unique_ptr<NeighborIndex> load_dense_exact_index(const std::string& path, size_t dim);
std::unique_ptr<NeighborIndex> load_dense_hnsw_index(const std::string& path, size_t dim,
                                                     const HnswSettings& settings = {});

// Exact cosine search through an inverted index: cost grows with the query's postings.
std::unique_ptr<NeighborIndex> make_exact_index(const std::vector<SparseVec>& rows);
std::unique_ptr<NeighborIndex> make_exact_index(Postings postings);  // throws if inconsistent

// Approximate search (hnswlib) on a dense signed feature-hashing projection of the vectors.
std::unique_ptr<NeighborIndex> make_hnsw_index(const std::vector<SparseVec>& rows,
                                               size_t dim = 256);

// The dense projection the HNSW index uses: each term adds ±weight to one of `dim` slots.
std::vector<float> project_dense(const SparseVec& v, size_t dim);
// A dense vector's values as a unit vector of `dim` floats (missing ids 0, others ignored).
std::vector<float> unit_dense(const SparseVec& v, size_t dim);
void make_unit(std::vector<float>& v);  // scaled to length 1 (a zero vector stays zero)

}  // namespace smacs
