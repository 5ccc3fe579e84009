// The built-in embedder: TF-IDF over hashed words, word bigrams and CJK characters.
//
// Needs no model weights. Terms are hashed into kTermBuckets buckets (as sklearn's
// HashingVectorizer), so no vocabulary is stored and document frequencies are one flat array:
// fitting a million questions is array increments, not hash-map inserts.
#pragma once
#include <cstdint>
#include <utility>

#include "embedding/embedder.h"

namespace smacs {

inline constexpr uint32_t kTermBuckets = 1u << 22;

// Hashed term ids (< kTermBuckets) with counts, sorted by id. Words are lower-cased ASCII/Latin
// runs; each CJK character is a unit of its own; bigrams join consecutive units.
using TermCounts = std::vector<std::pair<uint32_t, uint32_t>>;
TermCounts count_terms(std::string_view text);

class TfidfEmbedder : public Embedder {
 public:
  // Terms in more than this share of the fitted questions are left out (as sklearn's max_df):
  // they say almost nothing about similarity and their postings make search slow.
  explicit TfidfEmbedder(double max_df = 1.0) : max_df_(max_df) {}

  void fit(const std::vector<std::string>& corpus) override;
  void fit_counts(const std::vector<TermCounts>& docs);
  SparseVec embed(std::string_view text) const override { return weigh(count_terms(text)); }
  std::vector<SparseVec> embed_all(const std::vector<std::string>& texts) const override;
  std::string name() const override { return "tfidf-hashed-v1"; }

  // Sublinear tf (1 + log tf) times smoothed idf; terms never seen in fit() are left out.
  SparseVec weigh(const TermCounts& counts) const;

  // The fitted state (document count, per-bucket document frequencies), for the bank snapshot.
  uint64_t documents() const { return documents_; }
  const std::vector<uint32_t>& document_frequency() const { return df_; }
  double max_df() const { return max_df_; }
  void restore(uint64_t documents, std::vector<uint32_t> df);  // throws on a wrong-sized table

 private:
  double max_df_;
  uint64_t documents_ = 0;
  std::vector<uint32_t> df_;  // kTermBuckets entries once fitted
};

}  // namespace smacs
