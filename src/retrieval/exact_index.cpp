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
  // The order is total (ties broken by row), so selecting then sorting the n gives exactly
  // what a partial sort would, in O(rows + n log n).
  const auto nth = all.begin() + static_cast<long>(n);
  if (n < all.size()) std::nth_element(all.begin(), nth, all.end(), better);
  all.resize(n);
  std::sort(all.begin(), all.end(), better);
  return all;
}

// Term ids are small (hashed buckets, or dense dimensions), so counting uses flat arrays.
constexpr uint32_t kMaxTerms = 1u << 26;

// Two passes over the rows: count each term's postings, then place them (in row order).
Postings invert(const std::vector<SparseVec>& rows) {
  uint32_t n_terms = 0;
  for (const auto& v : rows)
    if (!v.idx.empty()) n_terms = std::max(n_terms, v.idx.back() + 1);
  if (n_terms > kMaxTerms) throw Error("term ids beyond 2^26 cannot be indexed");
  std::vector<uint64_t> next(n_terms, 0);  // first a count, then where the next posting goes
  for (const auto& v : rows)
    for (uint32_t t : v.idx) ++next[t];
  Postings p;
  p.n_rows = static_cast<uint32_t>(rows.size());
  p.offsets.push_back(0);
  for (uint32_t t = 0; t < n_terms; ++t) {
    if (next[t] == 0) continue;
    const uint64_t start = p.offsets.back();
    p.terms.push_back(t);
    p.offsets.push_back(start + next[t]);
    next[t] = start;
  }
  p.rows.resize(p.offsets.back());
  p.weights.resize(p.offsets.back());
  for (uint32_t r = 0; r < rows.size(); ++r)
    for (size_t i = 0; i < rows[r].idx.size(); ++i) {
      const uint64_t at = next[rows[r].idx[i]]++;
      p.rows[at] = r;
      p.weights[at] = rows[r].val[i];
    }
  return p;
}

class ExactIndex : public NeighborIndex {
 public:
  explicit ExactIndex(Postings p) : p_(std::move(p)) {}

  std::vector<Neighbor> search(const SparseVec& q, size_t n, uint32_t exclude) const override {
    std::vector<float> scores(p_.n_rows + added_, 0.0f);
    for (size_t i = 0; i < q.idx.size(); ++i) {
      const float w = q.val[i];
      const auto it = std::lower_bound(p_.terms.begin(), p_.terms.end(), q.idx[i]);
      if (it != p_.terms.end() && *it == q.idx[i]) {
        const size_t t = static_cast<size_t>(it - p_.terms.begin());
        for (uint64_t k = p_.offsets[t]; k < p_.offsets[t + 1]; ++k)
          scores[p_.rows[k]] += w * p_.weights[k];
      }
      if (added_ == 0) continue;
      const auto more = tail_.find(q.idx[i]);
      if (more == tail_.end()) continue;
      for (const auto& [row, weight] : more->second) scores[row] += w * weight;
    }
    return top_n(scores, n, exclude);
  }

  // Appended rows go to a second inverted index beside the compressed one: O(terms) per row,
  // and a search reads both.
  void add(const SparseVec& row) override {
    const uint32_t id = p_.n_rows + added_++;
    for (size_t i = 0; i < row.idx.size(); ++i) tail_[row.idx[i]].emplace_back(id, row.val[i]);
  }

  size_t size() const override { return p_.n_rows + added_; }
  const Postings* postings() const override { return added_ == 0 ? &p_ : nullptr; }

 private:
  Postings p_;
  uint32_t added_ = 0;
  std::unordered_map<uint32_t, std::vector<std::pair<uint32_t, float>>> tail_;
};

}  // namespace

std::unique_ptr<NeighborIndex> make_exact_index(const std::vector<SparseVec>& rows) {
  return std::make_unique<ExactIndex>(invert(rows));
}

std::unique_ptr<NeighborIndex> make_exact_index(Postings p) {
  bool ok =
      p.offsets.size() == p.terms.size() + 1 && p.offsets.front() == 0 &&
      p.offsets.back() == p.rows.size() && p.rows.size() == p.weights.size() &&
      std::is_sorted(p.offsets.begin(), p.offsets.end()) &&
      std::adjacent_find(p.terms.begin(), p.terms.end(), std::greater_equal<>()) == p.terms.end();
  ok = ok && std::all_of(p.rows.begin(), p.rows.end(), [&](uint32_t r) { return r < p.n_rows; });
  if (!ok) throw Error("inconsistent postings");
  return std::make_unique<ExactIndex>(std::move(p));
}

IndexKind parse_index_kind(const std::string& name) {
  if (name == "exact") return IndexKind::kExact;
  if (name == "hnsw") return IndexKind::kHnsw;
  throw Error("unknown index kind '" + name + "' (expected exact or hnsw)");
}

std::unique_ptr<NeighborIndex> make_index(IndexKind kind, const std::vector<SparseVec>& rows) {
  return kind == IndexKind::kExact ? make_exact_index(rows) : make_hnsw_index(rows);
}

}  // namespace smacs
