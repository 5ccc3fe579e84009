// Dense embeddings held densely (retrieval/dense_index.cpp): exact search by matrix products,
// HNSW on the real vectors, and make_index choosing them for a dense embedder's rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "retrieval/index.h"

using namespace smacs;

namespace {

std::vector<SparseVec> random_dense(std::mt19937& rng, size_t n, size_t dim) {
  std::normal_distribution<float> gauss;
  std::vector<SparseVec> rows;
  for (size_t i = 0; i < n; ++i) {
    std::vector<float> v(dim);
    for (auto& x : v) x = gauss(rng);
    rows.push_back(dense_vector(std::move(v)));  // not normalised: the index does it
  }
  return rows;
}

std::vector<Neighbor> brute_force(const std::vector<SparseVec>& rows, const SparseVec& q, size_t n,
                                  uint32_t exclude) {
  auto unit = [](SparseVec v) {
    l2_normalize(v);
    return v;
  };
  const SparseVec uq = unit(q);
  std::vector<Neighbor> all;
  for (uint32_t r = 0; r < rows.size(); ++r)
    if (r != exclude) all.push_back({r, dot(uq, unit(rows[r]))});
  std::sort(all.begin(), all.end(),
            [](auto& a, auto& b) { return a.sim != b.sim ? a.sim > b.sim : a.row < b.row; });
  all.resize(std::min(n, all.size()));
  return all;
}

}  // namespace

TEST(DenseIndex, ExactSearchIsTheBruteForceRankingAndTakesAppendedRows) {
  std::mt19937 rng(11);
  auto rows = random_dense(rng, 5000, 48);  // more than one 4,096-row block
  const auto index = make_dense_exact_index(rows, 48);
  for (int q = 0; q < 10; ++q) {
    const SparseVec query = random_dense(rng, 1, 48)[0];
    const auto want = brute_force(rows, query, 20, /*exclude=*/7);
    const auto got = index->search(query, 20, 7);
    ASSERT_EQ(got.size(), 20u);
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].row, want[i].row) << "rank " << i;
      EXPECT_NEAR(got[i].sim, want[i].sim, 1e-5);
    }
  }
  const SparseVec fresh = random_dense(rng, 1, 48)[0];
  index->add(fresh);  // feedback appends: no rebuild
  ASSERT_EQ(index->size(), 5001u);
  const auto found = index->search(fresh, 1);
  EXPECT_EQ(found[0].row, 5000u);
  EXPECT_NEAR(found[0].sim, 1.0f, 1e-5);
}

// The scan reads int8 codes; rows closer together than the codes can tell apart are scored
// again from the floats, so the ranking is still the exact one (and a zero row or query is no
// special case).
TEST(DenseIndex, ExactSearchStaysExactWhereTheInt8CodesCannotTellRowsApart) {
  std::mt19937 rng(5);
  std::normal_distribution<float> gauss;
  std::vector<float> centre(256);
  for (auto& x : centre) x = gauss(rng);
  std::vector<SparseVec> rows;
  for (int i = 0; i < 3000; ++i) {
    std::vector<float> v = centre;
    for (auto& x : v) x += 0.03f * gauss(rng);
    rows.push_back(dense_vector(std::move(v)));
  }
  rows.push_back(dense_vector(std::vector<float>(256, 0.0f)));
  const auto index = make_dense_exact_index(rows, 256);
  for (int q = 0; q < 5; ++q) {
    std::vector<float> v = centre;
    for (auto& x : v) x += 0.03f * gauss(rng);
    const SparseVec query = dense_vector(std::move(v));
    const auto want = brute_force(rows, query, 100, /*exclude=*/q);
    const auto got = index->search(query, 100, q);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i)  // (rows this close tie within float rounding)
      EXPECT_NEAR(got[i].sim, want[i].sim, 1e-6) << "rank " << i;
  }
  EXPECT_EQ(index->search(dense_vector(std::vector<float>(256, 0.0f)), 5000).size(), 3001u);
}

TEST(DenseIndex, MakeIndexHoldsADenseEmbeddersRowsDensely) {
  std::mt19937 rng(3);
  auto rows = random_dense(rng, 300, 16);
  for (auto& r : rows) l2_normalize(r);  // as the embedders give them
  EXPECT_EQ(dense_dim(rows), 16u);
  auto mixed = rows;
  mixed.push_back({{0, 5}, {1.0f, 1.0f}});  // a sparse row: not a dense bank
  EXPECT_EQ(dense_dim(mixed), 0u);
  const auto dense = make_index(IndexKind::kExact, rows);
  const auto sparse = make_exact_index(rows);  // the inverted index: the same ranking, slower
  EXPECT_EQ(dense->postings(), nullptr) << "the dense index, not the inverted one";
  const SparseVec q = random_dense(rng, 1, 16)[0];
  const auto a = dense->search(q, 10), b = sparse->search(q, 10);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(a[i].row, b[i].row);
}

TEST(DenseIndex, HnswOnTheRealVectorsFindsTheExactNeighbours) {
  std::mt19937 rng(5);
  const auto rows = random_dense(rng, 4000, 32);
  const auto exact = make_dense_exact_index(rows, 32);
  const auto hnsw = make_index(IndexKind::kHnsw, rows);  // real vectors, not a hashed projection
  const auto hashed = make_hnsw_index(rows, 8);          // what dense banks had: 8 slots here
  size_t hits = 0, hashed_hits = 0, total = 0;
  for (int q = 0; q < 30; ++q) {
    const SparseVec query = random_dense(rng, 1, 32)[0];
    std::set<uint32_t> truth;
    for (const auto& n : exact->search(query, 20)) truth.insert(n.row);
    for (const auto& n : hnsw->search(query, 20)) hits += truth.count(n.row);
    for (const auto& n : hashed->search(query, 20)) hashed_hits += truth.count(n.row);
    total += truth.size();
  }
  EXPECT_GE(double(hits) / total, 0.95);
  EXPECT_LT(double(hashed_hits) / total, 0.5) << "a projection loses neighbours";
}

// A dense graph is searched through its bottom layer packed with int8 codes (packed_layer.h):
// rows appended one at a time (feedback) re-link their neighbours in hnswlib's graph, and the
// packed copy must follow, or a search walks links the graph no longer has. hnswlib builds the
// same graph either way (one row at a time, in order), so both indexes must answer alike; and
// the codes' similarities stay near the exact ones (0.0025 at most here, in 64 dimensions; the
// codes are finer in more).
TEST(DenseIndex, HnswAppendedRowsSearchAsRowsBuiltAtOnce) {
  std::mt19937 rng(9);
  const auto rows = random_dense(rng, 3000, 64);
  const std::vector<SparseVec> first(rows.begin(), rows.begin() + 100);
  const auto built = make_dense_hnsw_index(rows, 64);
  const auto grown = make_dense_hnsw_index(first, 64);
  for (size_t i = first.size(); i < rows.size(); ++i) grown->add(rows[i]);
  ASSERT_EQ(grown->size(), rows.size());
  for (int q = 0; q < 40; ++q) {
    const SparseVec query = random_dense(rng, 1, 64)[0];
    const auto want = built->search(query, 30), got = grown->search(query, 30);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].row, want[i].row) << "query " << q << ", neighbour " << i;
      SparseVec row = rows[got[i].row], unit_query = query;
      l2_normalize(row);
      l2_normalize(unit_query);
      EXPECT_NEAR(got[i].sim, dot(row, unit_query), 4e-3f);
    }
  }
}
