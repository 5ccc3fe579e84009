#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>

#include "core/error.h"
#include "retrieval/index.h"
#include "retrieval/packed_layer.h"

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
// row's own values. hnswlib builds, grows and saves the graph; a dense graph is searched through
// its bottom layer packed with int8 codes (packed_layer.h), the upper layers through hnswlib's
// links with the same codes.
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
    if (to_vector == unit_dense) packed_.emplace(dim, graph_->maxM0_);
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
    packed_.emplace(dim, graph_->maxM0_);
    pack_all();
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
    if (packed_) pack_all();
  }

  std::vector<Neighbor> search(const SparseVec& q, size_t n, uint32_t exclude) const override {
    const size_t want = std::min(n + (exclude != kNoRow ? 1 : 0), rows_);
    if (want == 0) return {};
    const auto dense = to_vector_(q, dim_);
    if (packed_) return packed_search(dense, want, n, exclude);
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
    if (packed_) {  // the new node, and its neighbours: the insert re-linked each of them
      const auto id = static_cast<uint32_t>(rows_);
      pack(id);
      const auto [links, count] = bottom_links(id);
      for (size_t j = 0; j < count; ++j) {
        const auto [their_links, their_count] = bottom_links(links[j]);
        packed_->set_links(links[j], their_links, their_count);
      }
    }
    ++rows_;
  }

  size_t size() const override { return rows_; }

 private:
  std::pair<const uint32_t*, size_t> bottom_links(uint32_t id) const {
    hnswlib::linklistsizeint* list = graph_->get_linklist0(id);
    return {reinterpret_cast<const uint32_t*>(list + 1), graph_->getListCount(list)};
  }
  void pack(uint32_t id) {
    const auto [links, count] = bottom_links(id);
    packed_->set_node(id, static_cast<uint32_t>(graph_->getExternalLabel(id)),
                      reinterpret_cast<const float*>(graph_->getDataByInternalId(id)), links,
                      count);
  }
  void pack_all() {
    packed_->reserve(rows_);
    for (size_t id = 0; id < rows_; ++id) pack(static_cast<uint32_t>(id));
  }

  struct GiveBack {  // a search's visited list back to hnswlib's pool
    Graph* graph;
    void operator()(hnswlib::VisitedList* list) const {
      graph->visited_list_pool_->releaseVisitedList(list);
    }
  };

  // hnswlib's search on the packed codes: a greedy walk down the upper layers from the entry
  // node, then the bottom layer's search with max(ef, want) candidates.
  std::vector<Neighbor> packed_search(const std::vector<float>& dense, size_t want, size_t n,
                                      uint32_t exclude) const {
    const PackedLayer::Query q = packed_->encode(dense);
    uint32_t node = graph_->enterpoint_node_;
    float nearest = packed_->distance(q, node);
    for (int level = graph_->maxlevel_; level > 0; --level)
      for (bool moved = true; moved;) {
        moved = false;
        hnswlib::linklistsizeint* list = graph_->get_linklist(node, level);
        const auto* links = reinterpret_cast<const uint32_t*>(list + 1);
        for (size_t j = 0; j < graph_->getListCount(list); ++j)
          if (const float d = packed_->distance(q, links[j]); d < nearest) {
            nearest = d;
            node = links[j];
            moved = true;
          }
      }
    const std::unique_ptr<hnswlib::VisitedList, GiveBack> seen(
        graph_->visited_list_pool_->getFreeVisitedList(), GiveBack{graph_.get()});
    const auto found =
        packed_->search(q, node, std::max(graph_->ef_, want), {seen->mass, seen->curV});
    std::vector<Neighbor> out;
    for (const auto& [distance, id] : found)
      if (const uint32_t row = packed_->row(id); row != exclude)
        out.push_back({row, std::min(1.0f, 1.0f - distance)});  // the codes' estimate
    std::sort(out.begin(), out.end(), more_similar);
    if (out.size() > n) out.resize(n);
    return out;
  }

  size_t dim_;
  ToVector to_vector_;
  size_t rows_ = 0;
  hnswlib::InnerProductSpace space_;
  std::unique_ptr<Graph> graph_;
  std::optional<PackedLayer> packed_;  // a dense graph's bottom layer, packed for search
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
