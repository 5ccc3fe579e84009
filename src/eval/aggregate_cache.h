// What an aggregator wrote, kept in SQLite by (aggregator, question, ordered subset, sampling
// settings, sample), so `eval --aggregator-url` asks only what no earlier run asked, and
// re-scoring (another ppl_coef, fewer candidates) makes no call at all.
#pragma once
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/aggregate_mode.h"

struct sqlite3;

namespace smacs {

struct AggregateKey {
  std::string aggregator;             // the model id it was asked under
  std::string question;               // the user turn
  std::vector<std::string> subset{};  // the references' models, in subset order
  std::string settings;               // the sampling settings (temperature, max_tokens), as JSON
  size_t sample = 0;                  // the same subset drawn again for one question: 1, 2, ...
  std::string text() const;           // the key as stored
};

class AggregateCache {
 public:
  explicit AggregateCache(const std::string& path);  // created when missing; throws smacs::Error
  ~AggregateCache();
  AggregateCache(const AggregateCache&) = delete;
  AggregateCache& operator=(const AggregateCache&) = delete;

  std::optional<AggregateCandidate> find(const AggregateKey& key) const;
  void put(const AggregateKey& key, const AggregateCandidate& candidate);  // thread-safe
  size_t size() const;

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
  mutable std::mutex mutex_;
};

}  // namespace smacs
