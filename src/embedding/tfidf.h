// The built-in embedder: TF-IDF over hashed words, word bigrams and CJK characters.
//
// Needs no model weights. Terms are hashed to 32 bits, so no vocabulary is stored;
// only document frequencies, which the prior bank persists.
#pragma once
#include <cstdint>
#include <unordered_map>
#include <utility>

#include "embedding/embedder.h"

namespace smacs {

// Hashed term ids with counts, sorted by id. Words are lower-cased ASCII/Latin runs; each CJK
// character is a unit of its own; bigrams join consecutive units.
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
  std::string name() const override { return "tfidf-hashed-v1"; }

  // Sublinear tf (1 + log tf) times smoothed idf; terms never seen in fit() are left out.
  SparseVec weigh(const TermCounts& counts) const;

  // Persistence: document count and per-term document frequencies.
  uint64_t documents() const { return documents_; }
  const std::unordered_map<uint32_t, uint32_t>& document_frequency() const { return df_; }
  void restore(uint64_t documents, std::unordered_map<uint32_t, uint32_t> df);

 private:
  double max_df_;
  uint64_t documents_ = 0;
  std::unordered_map<uint32_t, uint32_t> df_;
};

}  // namespace smacs
