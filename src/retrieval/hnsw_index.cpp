#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <stdexcept>

#include "core/error.h"
#include "retrieval/index.h"

namespace smacs {

std::vector<float> project_dense(const SparseVec& v, size_t dim) {
  std::vector<float> out(dim, 0.0f);
  for (size_t i = 0; i < v.idx.size(); ++i) {
    uint32_t h = v.idx[i] * 2654435761u;  // Knuth's multiplicative hash spreads nearby ids
    h ^= h >> 16;
    const float sign = (h & 1u) ? 1.0f : -1.0f;
    out[(h >> 1) % dim] += sign * v.val[i];
  }
  make_unit(out);
  return out;
}

namespace {

// Over the vectors `to_vector` makes of the rows: a sparse row's hashed projection, or a dense
// row's own values.
class HnswIndex : public NeighborIndex {
 public:
  using ToVector = std::vector<float> (*)(const SparseVec&, size_t);
  using Graph = hnswlib::HierarchicalNSW<float>;
  HnswIndex(size_t dim, size_t capacity, ToVector to_vector, const HnswSettings& s)
      : dim_(dim),
        to_vector_(to_vector),
        space_(dim),
        graph_(std::make_unique<Graph>(&space_, capacity, s.m, s.ef_construction)) {
    // Fixed once: hnswlib searches with max(ef, k), and a per-query setEf would race.
    graph_->setEf(s.ef);
  }

  // hnswlib's file of a dense graph (save_dense), checked against `dim` before it is used.
  HnswIndex(const std::string& path, size_t dim, const HnswSettings& s)
      : dim_(dim), to_vector_(unit_dense), space_(dim), graph_(std::make_unique<Graph>(&space_)) {
    graph_->num_deleted_ = 0;  // loadIndex counts deleted rows onto it without setting it first
    try {
      graph_->loadIndex(path, &space_);
    } catch (const std::runtime_error& e) {
      // A graph that failed half-way has members its destructor would free unset: leaked, once
      // (the snapshot's checksum makes this a damaged disk, not a normal case).
      (void)graph_.release();
      throw Error(path + ": not an HNSW index (" + e.what() + ")");
    }
    const size_t expected = graph_->size_links_level0_ + dim * sizeof(float) + sizeof(size_t);
    if (graph_->size_data_per_element_ != expected ||
        graph_->offsetData_ != graph_->size_links_level0_)
      throw Error(path + ": not an HNSW index of " + std::to_string(dim) + " dimensions");
    rows_ = graph_->cur_element_count;
    graph_->setEf(s.ef);
  }

  size_t dense_width() const override { return to_vector_ == unit_dense ? dim_ : 0; }

  void save_dense(const std::string& path) const override {
    if (!dense_width()) NeighborIndex::save_dense(path);  // a hashed projection: not kept
    // hnswlib writes through an ofstream without checking it: the size tells.
    graph_->saveIndex(path);
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec || size < rows_ * graph_->size_data_per_element_)
      throw Error(path + ": writing the HNSW index failed");
  }

  // One at a time, in row order: parallel insertion would make the graph (and so the
  // neighbours) differ from run to run.
  void add_all(const std::vector<SparseVec>& rows) {
    for (size_t i = 0; i < rows.size(); ++i) graph_->addPoint(to_vector_(rows[i], dim_).data(), i);
    rows_ = rows.size();
  }

  std::vector<Neighbor> search(const SparseVec& q, size_t n, uint32_t exclude) const override {
    const size_t want = std::min(n + (exclude != kNoRow ? 1 : 0), rows_);
    if (want == 0) return {};
    const auto dense = to_vector_(q, dim_);
    auto heap = graph_->searchKnn(dense.data(), want);
    std::vector<Neighbor> out;
    while (!heap.empty()) {  // the heap pops the farthest first
      const auto [distance, label] = heap.top();
      heap.pop();
      if (label != exclude) out.push_back({static_cast<uint32_t>(label), 1.0f - distance});
    }
    std::reverse(out.begin(), out.end());
    if (out.size() > n) out.resize(n);
    return out;
  }

  void add(const SparseVec& row) override {
    if (rows_ >= graph_->max_elements_) graph_->resizeIndex(2 * rows_ + 16);
    graph_->addPoint(to_vector_(row, dim_).data(), rows_);
    ++rows_;
  }

  size_t size() const override { return rows_; }

 private:
  size_t dim_;
  ToVector to_vector_;
  size_t rows_ = 0;
  hnswlib::InnerProductSpace space_;
  std::unique_ptr<Graph> graph_;
};

}  // namespace

std::unique_ptr<NeighborIndex> make_hnsw_index(const std::vector<SparseVec>& rows, size_t dim) {
  auto index = std::make_unique<HnswIndex>(dim, std::max<size_t>(rows.size(), 1), project_dense,
                                           HnswSettings{});
  index->add_all(rows);
  return index;
}

std::unique_ptr<NeighborIndex> make_dense_hnsw_index(const std::vector<SparseVec>& rows, size_t dim,
                                                     const HnswSettings& settings) {
  auto index =
      std::make_unique<HnswIndex>(dim, std::max<size_t>(rows.size(), 1), unit_dense, settings);
  index->add_all(rows);
  return index;
}

std::unique_ptr<NeighborIndex> load_dense_hnsw_index(const std::string& path, size_t dim,
                                                     const HnswSettings& settings) {
  return std::make_unique<HnswIndex>(path, dim, settings);
}

}  // namespace smacs
