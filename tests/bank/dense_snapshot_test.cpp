// A pretrained embedder's dense bank in the snapshot: opened again, its questions are not
// embedded again and its index (the float matrix, or the HNSW graph) is read, not rebuilt.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>

#include "bank/bank_store.h"
#include "bank/snapshot.h"
#include "data/load.h"
#include "test_util.h"

namespace smacs {
namespace {

// A pretrained embedder that needs no weights: each word adds +-1 to one of 32 dimensions.
// It counts the texts it embeds, which is what a snapshot saves.
class WordHashEmbedder final : public Embedder {
 public:
  explicit WordHashEmbedder(std::string key) : key_(std::move(key)) {}
  void fit(const std::vector<std::string>&) override {}
  SparseVec embed(std::string_view text) const override {
    ++embedded;
    std::vector<float> v(32, 0.0f);
    size_t start = 0;
    for (size_t i = 0; i <= text.size(); ++i)
      if (i == text.size() || text[i] == ' ') {
        const size_t h = std::hash<std::string_view>{}(text.substr(start, i - start));
        v[h % 32] += (h >> 8) & 1 ? 1.0f : -1.0f;
        start = i + 1;
      }
    v[0] += 0.01f;  // never the zero vector
    return dense_vector(std::move(v));
  }
  std::string name() const override { return "word-hash-32"; }
  std::string cache_key() const override { return key_; }
  mutable std::atomic<size_t> embedded{0};

 private:
  std::string key_;
};

Dataset first_questions(size_t n) {
  Dataset d = load_file(test::data_file("routerbench/arc_challenge_train.csv"));
  d.records.resize(std::min(d.records.size(), n));
  return d;
}

std::string fresh_bank(const std::string& name, size_t n) {
  const std::string path = test::temp_path(name);
  save_bank(first_questions(n), path);
  return path;
}

void expect_same_neighbours(const PriorBank& a, const PriorBank& b) {
  ASSERT_EQ(a.size(), b.size());
  ASSERT_EQ(a.index->size(), b.index->size());
  for (size_t i = 0; i < a.size(); i += 23) {
    const SparseVec q = a.embedder->embed(a.data.records[i].question);
    const auto x = a.index->search(q, 25), y = b.index->search(q, 25);
    ASSERT_EQ(x.size(), y.size());
    for (size_t j = 0; j < x.size(); ++j) {
      EXPECT_EQ(x[j].row, y[j].row);
      EXPECT_FLOAT_EQ(x[j].sim, y[j].sim);
    }
  }
}

class DenseSnapshot : public ::testing::TestWithParam<IndexKind> {};

TEST_P(DenseSnapshot, SecondOpenEmbedsNoQuestionAndFindsTheSameNeighbours) {
  const std::string path = fresh_bank("dense-snap.sqlite", 300);
  auto embedder = std::make_shared<WordHashEmbedder>("word-hash-32/v1");
  const BankOptions options{
      .index = GetParam(), .embedder = embedder, .progress = {}, .reuse_rows = nullptr};
  const std::string snap = snapshot_path(path, options);
  std::filesystem::remove(snap);
  const PriorBank built = open_bank(path, options);
  const size_t questions = built.size();  // 298: the bank keeps a repeated question once
  EXPECT_EQ(embedder->embedded, questions);
  ASSERT_TRUE(std::filesystem::exists(snap));
  ASSERT_TRUE(std::filesystem::exists(snap + ".index"));
  EXPECT_NE(snap, snapshot_path(path));  // not the TF-IDF bank's snapshot

  const PriorBank reopened = open_bank(path, options);
  EXPECT_EQ(embedder->embedded, questions) << "a question was embedded again";
  EXPECT_EQ(reopened.index->dense_width(), 32u);
  EXPECT_EQ(reopened.pretrained, embedder);
  EXPECT_EQ(reopened.index_kind, GetParam());
  expect_same_neighbours(built, reopened);

  PriorBank grown = open_bank(path, options);  // feedback appends to the loaded index
  append_row(grown, grown.data.records[7], embedder->embed(grown.data.records[7].question));
  const auto hits = grown.index->search(embedder->embed(grown.data.records[7].question), 2);
  ASSERT_EQ(hits.size(), 2u);
  // An HNSW graph's similarities are its int8 codes' estimates (packed_layer.h): within 0.002.
  EXPECT_NEAR(hits[1].sim, 1.0f, GetParam() == IndexKind::kHnsw ? 2e-3f : 1e-5f);
}

// Another embedder's vectors (another model or weights: another cache key) cannot be compared
// with this one's queries; a damaged index file must not be trusted either.
TEST_P(DenseSnapshot, AnotherEmbedderOrADamagedIndexFileIsNotUsed) {
  const std::string path = fresh_bank("dense-snap-other.sqlite", 120);
  auto first = std::make_shared<WordHashEmbedder>("word-hash-32/v1");
  const BankOptions options{
      .index = GetParam(), .embedder = first, .progress = {}, .reuse_rows = nullptr};
  std::filesystem::remove(snapshot_path(path, options));
  const PriorBank built = open_bank(path, options);
  const auto version = *BankFile::open(path, BankFile::Mode::kRead)->version();
  auto second = std::make_shared<WordHashEmbedder>("word-hash-32/v2");
  const BankOptions other{
      .index = GetParam(), .embedder = second, .progress = {}, .reuse_rows = nullptr};
  EXPECT_FALSE(load_snapshot(snapshot_path(path, options), version, other).has_value());
  EXPECT_FALSE(load_snapshot(snapshot_path(path, options), version).has_value());  // TF-IDF
  const IndexKind flipped = GetParam() == IndexKind::kExact ? IndexKind::kHnsw : IndexKind::kExact;
  EXPECT_FALSE(
      load_snapshot(snapshot_path(path, options), version,
                    {.index = flipped, .embedder = first, .progress = {}, .reuse_rows = nullptr})
          .has_value());

  const std::string side = snapshot_path(path, options) + ".index";
  const auto size = std::filesystem::file_size(side);
  {
    std::fstream f(side, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2));
    f.write("\x7f\x7f\x7f\x7f", 4);
  }
  EXPECT_FALSE(load_snapshot(snapshot_path(path, options), version, options).has_value());
  std::filesystem::resize_file(side, size / 3);
  EXPECT_FALSE(load_snapshot(snapshot_path(path, options), version, options).has_value());
  const size_t before = first->embedded;
  const PriorBank rebuilt = open_bank(path, options);  // embeds again, and saves anew
  EXPECT_EQ(first->embedded, before + built.size());
  expect_same_neighbours(built, rebuilt);
  EXPECT_TRUE(load_snapshot(snapshot_path(path, options), version, options).has_value());
}

INSTANTIATE_TEST_SUITE_P(BankSnapshot, DenseSnapshot,
                         ::testing::Values(IndexKind::kExact, IndexKind::kHnsw),
                         [](const auto& info) {
                           return info.param == IndexKind::kExact ? std::string("Exact")
                                                                  : std::string("Hnsw");
                         });

}  // namespace
}  // namespace smacs
