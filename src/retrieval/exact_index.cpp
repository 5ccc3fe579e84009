#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "retrieval/index.h"

namespace smacs {

namespace {

// The n best of `c` in order: selecting then sorting the n gives exactly what a partial sort
// would, in O(c + n log n).
void keep_best(std::vector<Neighbor>& c, size_t n) {
  n = std::min(n, c.size());
  const auto nth = c.begin() + static_cast<long>(n);
  if (n < c.size()) std::nth_element(c.begin(), nth, c.end(), more_similar);
  c.resize(n);
  std::sort(c.begin(), c.end(), more_similar);
}

// A search's score per row, kept per thread and cleared after each search: only the rows the
// query's postings touch are written, read and cleared, so a search costs its postings, not
// the bank (a fresh score per bank row cost ~4 MB and a full scan per query at 1M rows).
struct Scratch {
  std::vector<float> score;
  std::vector<uint8_t> seen;
  std::vector<uint32_t> touched;
  void reserve(size_t rows) {
    if (score.size() < rows) score.resize(rows, 0.0f), seen.resize(rows, 0);
  }
  void add(uint32_t row, float v) {
    if (!seen[row]) seen[row] = 1, touched.push_back(row);
    score[row] += v;
  }
  void clear() {
    for (uint32_t r : touched) score[r] = 0.0f, seen[r] = 0;
    touched.clear();
  }
};

Scratch& scratch(size_t rows) {
  thread_local Scratch s;
  s.reserve(rows);
  return s;
}

// The n best of `rows` rows (sim desc, row asc), every row scored (0 where untouched) and
// `exclude` left out: zero similarities included, so a question that shares no term with the
// bank still gets n neighbours (the first rows), and shrinkage decides for it. Reads only the
// touched rows, and the first untouched ones when the positive ones are too few.
std::vector<Neighbor> top_n(const Scratch& s, uint32_t rows, size_t n, uint32_t exclude) {
  std::vector<Neighbor> out, negative;
  for (uint32_t r : s.touched) {
    if (r == exclude) continue;
    const float v = s.score[r];
    if (v > 0) out.push_back({r, v});
    if (v < 0) negative.push_back({r, v});
  }
  keep_best(out, n);
  for (uint32_t r = 0; r < rows && out.size() < n; ++r)  // the zeros, in row order
    if (r != exclude && s.score[r] == 0.0f) out.push_back({r, 0.0f});
  if (out.size() < n) {
    keep_best(negative, n - out.size());
    out.insert(out.end(), negative.begin(), negative.end());
  }
  return out;
}

// Term ids are small (hashed buckets, or dense dimensions), so counting uses flat arrays.
constexpr uint32_t kMaxTerms = 1u << 26;

// Two passes over the rows: count each term's postings, then place them (in row order). The
// count per term id is 32-bit and then names the term's slot among the present ones: the one
// array as wide as the term ids is half the size (it is zeroed once per build).
Postings invert(const std::vector<SparseVec>& rows) {
  uint32_t n_terms = 0;
  for (const auto& v : rows)
    if (!v.idx.empty()) n_terms = std::max(n_terms, v.idx.back() + 1);
  if (n_terms > kMaxTerms) throw Error("term ids beyond 2^26 cannot be indexed");
  std::vector<uint32_t> count(n_terms, 0);  // a term's postings, then its slot in `next`
  for (const auto& v : rows)
    for (uint32_t t : v.idx) ++count[t];
  struct Owned {
    std::vector<uint32_t> terms;
    std::vector<uint64_t> offsets{0};
    std::vector<uint32_t> rows;
    std::vector<float> weights;
  };
  auto p = std::make_shared<Owned>();
  std::vector<uint64_t> next;  // per present term: where its next posting goes
  for (uint32_t t = 0; t < n_terms; ++t) {
    if (count[t] == 0) continue;
    const uint64_t start = p->offsets.back();
    p->terms.push_back(t);
    p->offsets.push_back(start + count[t]);
    count[t] = static_cast<uint32_t>(next.size());
    next.push_back(start);
  }
  p->rows.resize(p->offsets.back());
  p->weights.resize(p->offsets.back());
  for (uint32_t r = 0; r < rows.size(); ++r)
    for (size_t i = 0; i < rows[r].idx.size(); ++i) {
      const uint64_t at = next[count[rows[r].idx[i]]]++;
      p->rows[at] = r;
      p->weights[at] = rows[r].val[i];
    }
  return {.n_rows = static_cast<uint32_t>(rows.size()),
          .terms = p->terms,
          .offsets = p->offsets,
          .rows = p->rows,
          .weights = p->weights,
          .owner = p};
}

// One query term's postings in one of the two inverted indexes, with its query weight.
struct Span {
  const uint32_t* rows;
  const float* weights;
  size_t size;
  float w;
};

// How many of a span's rows come before `end`: galloping from the front, since the answer is
// near it and a binary search over the whole list would miss the cache at every step.
size_t count_below(const Span& x, uint32_t end) {
  size_t hi = 1;
  while (hi < x.size && x.rows[hi - 1] < end) hi *= 2;
  const size_t lo = hi / 2;
  hi = std::min(hi, x.size);
  return static_cast<size_t>(std::lower_bound(x.rows + lo, x.rows + hi, end) - x.rows);
}

// The n best positive rows of a query whose postings touch most of the bank. The rows are
// scored a block at a time into a score array that stays in the L1/L2 cache (the postings are in
// row order, so each span is read once, front to back): the scattered writes over the whole
// bank's scores and the list of touched rows were most of such a query's cost. Each row's terms
// are added in the query's order, as the one-row-at-a-time path adds them, so the scores are the
// same bit for bit; a row joins the candidates only when it beats the n-th best so far (ties go
// to the lower row, which came first).
std::vector<Neighbor> top_n_in_blocks(std::vector<Span> spans, uint32_t rows, size_t n,
                                      uint32_t exclude) {
  constexpr uint32_t kBlock = 1u << 13;
  thread_local std::vector<float> block(kBlock, 0.0f);
  std::vector<Neighbor> best;
  float floor = 0.0f;  // the n-th best score once n are known; positive rows only before
  for (uint32_t base = 0; base < rows; base += kBlock) {
    const uint32_t end = std::min(rows, base + kBlock);
    std::fill(block.begin(), block.end(), 0.0f);  // first: an exception cannot leave it dirty
    float* __restrict scores = block.data();      // row r's score at r - base
    for (Span& x : spans) {
      const size_t in_block = count_below(x, end);
      const uint32_t* __restrict r = x.rows;
      const float* __restrict v = x.weights;
      const float w = x.w;  // in a register: the writes to scores cannot change it
      for (size_t k = 0; k < in_block; ++k) scores[r[k] - base] += w * v[k];
      x.rows += in_block, x.weights += in_block, x.size -= in_block;
    }
    for (uint32_t g = 0; g < end - base; g += 16) {  // 16 at a time: most groups hold no winner
      bool any = false;
      for (uint32_t i = 0; i < 16; ++i) any |= block[g + i] > floor;
      if (!any) continue;
      for (uint32_t r = base + g; r < std::min(end, base + g + 16); ++r)
        if (block[r - base] > floor && r != exclude) best.push_back({r, block[r - base]});
    }
    if (best.size() >= 2 * n) keep_best(best, n), floor = best.back().sim;
  }
  keep_best(best, n);
  return best;
}

class ExactIndex : public NeighborIndex {
 public:
  explicit ExactIndex(Postings p) : p_(std::move(p)) {
    // A large bank fills most hashed buckets: then a table from term id to slot (4 bytes per
    // id) replaces a binary search whose every step missed the cache (about a third of a
    // query's time at 1M questions).
    if (!p_.terms.empty() && p_.terms.back() / 16 < p_.terms.size()) {
      slot_.assign(p_.terms.back() + 1, kAbsent);
      for (uint32_t t = 0; t < p_.terms.size(); ++t) slot_[p_.terms[t]] = t;
    }
  }

  std::vector<Neighbor> search(const SparseVec& q, size_t n, uint32_t exclude) const override {
    const uint32_t rows = p_.n_rows + added_;
    Scratch& s = scratch(rows);
    struct ClearAfter {  // also when an exception leaves early: the next search starts clean
      Scratch& s;
      ~ClearAfter() { s.clear(); }
    } clear_after{s};
    std::vector<Span> spans = spans_of(q);
    size_t postings = 0;
    for (const Span& x : spans) postings += x.size;
    if (n > 0 && rows >= n && postings >= rows / 4) {  // a heavy query: most rows get a score
      std::vector<Neighbor> best = top_n_in_blocks(spans, rows, n, exclude);
      if (best.size() == n) return best;  // else fewer than n positive rows: the zeros decide
    }
    for (const Span& x : spans)  // every posting, in the query's order
      for (size_t k = 0; k < x.size; ++k) s.add(x.rows[k], x.w * x.weights[k]);
    return top_n(s, rows, n, exclude);
  }

  // Appended rows go to a second inverted index beside the compressed one: O(terms) per row,
  // and a search reads both.
  void add(const SparseVec& row) override {
    const uint32_t id = p_.n_rows + added_++;
    for (size_t i = 0; i < row.idx.size(); ++i) {
      Tail& t = tail_[row.idx[i]];
      t.rows.push_back(id);
      t.weights.push_back(row.val[i]);
    }
  }

  size_t size() const override { return p_.n_rows + added_; }
  const Postings* postings() const override { return added_ == 0 ? &p_ : nullptr; }

 private:
  struct Tail {
    std::vector<uint32_t> rows;  // ascending: rows are appended in id order
    std::vector<float> weights;
  };

  std::vector<Span> spans_of(const SparseVec& q) const {
    std::vector<Span> out;
    for (size_t i = 0; i < q.idx.size(); ++i) {
      const float w = q.val[i];
      const uint32_t t = slot_of(q.idx[i]);
      if (t != kAbsent) {
        const uint64_t from = p_.offsets[t], to = p_.offsets[t + 1];
        out.push_back({p_.rows.data() + from, p_.weights.data() + from, to - from, w});
      }
      if (added_ == 0) continue;
      const auto more = tail_.find(q.idx[i]);
      if (more != tail_.end())
        out.push_back(
            {more->second.rows.data(), more->second.weights.data(), more->second.rows.size(), w});
    }
    return out;
  }

  static constexpr uint32_t kAbsent = ~0u;

  uint32_t slot_of(uint32_t term) const {  // where the term's postings are listed, or kAbsent
    if (!slot_.empty()) return term < slot_.size() ? slot_[term] : kAbsent;
    const auto it = std::lower_bound(p_.terms.begin(), p_.terms.end(), term);
    return it != p_.terms.end() && *it == term ? static_cast<uint32_t>(it - p_.terms.begin())
                                               : kAbsent;
  }

  Postings p_;
  std::vector<uint32_t> slot_;  // term id -> slot; empty where the ids are sparse
  uint32_t added_ = 0;
  std::unordered_map<uint32_t, Tail> tail_;
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
  if (const size_t dim = dense_dim(rows))
    return kind == IndexKind::kExact ? make_dense_exact_index(rows, dim)
                                     : make_dense_hnsw_index(rows, dim);
  return kind == IndexKind::kExact ? make_exact_index(rows) : make_hnsw_index(rows);
}

}  // namespace smacs
