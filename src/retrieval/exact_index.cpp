#include <algorithm>
#include <unordered_map>

#include "core/error.h"
#include "retrieval/index.h"

namespace smacs {

namespace {

// Keeps the n best rows (sim desc, row asc), zero similarities included: a question that
// shares no term with the bank still gets n neighbours, and shrinkage decides for it.
std::vector<Neighbor> top_n(const std::vector<float>& scores, size_t n, uint32_t exclude) {
  std::vector<Neighbor> all;
  all.reserve(scores.size());
  for (uint32_t r = 0; r < scores.size(); ++r)
    if (r != exclude) all.push_back({r, scores[r]});
  n = std::min(n, all.size());
  auto better = [](const Neighbor& a, const Neighbor& b) {
    return a.sim != b.sim ? a.sim > b.sim : a.row < b.row;
  };
  std::partial_sort(all.begin(), all.begin() + static_cast<long>(n), all.end(), better);
  all.resize(n);
  return all;
}

class ExactIndex : public NeighborIndex {
 public:
  void add(const SparseVec& v) override {
    const auto row = static_cast<uint32_t>(rows_++);
    for (size_t i = 0; i < v.idx.size(); ++i) postings_[v.idx[i]].push_back({row, v.val[i]});
  }

  std::vector<Neighbor> search(const SparseVec& q, size_t n, uint32_t exclude) const override {
    std::vector<float> scores(rows_, 0.0f);
    for (size_t i = 0; i < q.idx.size(); ++i) {
      const auto it = postings_.find(q.idx[i]);
      if (it == postings_.end()) continue;
      const float w = q.val[i];
      for (const auto& p : it->second) scores[p.row] += w * p.weight;
    }
    return top_n(scores, n, exclude);
  }

  size_t size() const override { return rows_; }

 private:
  struct Posting {
    uint32_t row;
    float weight;
  };
  size_t rows_ = 0;
  std::unordered_map<uint32_t, std::vector<Posting>> postings_;
};

}  // namespace

std::unique_ptr<NeighborIndex> make_exact_index() { return std::make_unique<ExactIndex>(); }

IndexKind parse_index_kind(const std::string& name) {
  if (name == "exact") return IndexKind::kExact;
  if (name == "hnsw") return IndexKind::kHnsw;
  throw Error("unknown index kind '" + name + "' (expected exact or hnsw)");
}

std::unique_ptr<NeighborIndex> make_index(IndexKind kind, size_t expected_rows) {
  return kind == IndexKind::kExact ? make_exact_index()
                                   : make_hnsw_index(256, std::max<size_t>(expected_rows, 1024));
}

}  // namespace smacs
