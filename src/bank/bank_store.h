// The prior bank on disk: a SQLite file. It holds data only (questions, gold answers or tests,
// and per-model results); the embeddings and the index are derived when it is opened (the
// TF-IDF fit is deterministic), so no vector in the file can go stale. What opening derives is
// cached in a snapshot beside the file (bank/snapshot.h), valid while the bank is unchanged.
#pragma once
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "bank/prior_bank.h"

namespace smacs {

// One model's measured result on one question; nullopt (or an empty response): unknown,
// stored as NULL, and never overwrites what the bank already knows.
struct ResultRow {
  std::optional<float> score{};
  std::string response{};
  std::optional<float> cost{};  // USD
  std::optional<double> latency_ms{};
  std::optional<int64_t> prompt_tokens{}, completion_tokens{};
};

// An open bank for incremental writes. Every write commits at once (WAL journal), so a
// process killed at any moment loses no finished result. Thread-safe.
class BankFile {
 public:
  enum class Mode { kRead, kWrite, kCreate };  // kRead never changes the file
  static std::unique_ptr<BankFile> open(const std::string& path, Mode mode);
  ~BankFile();

  // By Record::id (unique in a bank): a question seen again returns its existing row, so
  // results recorded twice for one id merge.
  int64_t add_question(const Record& r);
  int64_t add_model(const std::string& name);
  void put_result(int64_t question, int64_t model, const ResultRow& result);
  std::set<std::pair<int64_t, int64_t>> results_present() const;  // (question, model)
  std::vector<std::pair<int64_t, Record>> questions() const;      // without results
  void remove_model(const std::string& name);                     // throws when unknown
  Dataset load() const;
  void begin();          // group many writes into one transaction (bulk import)...
  void commit();         // ...and make them durable together
  void make_portable();  // fold the WAL into the file and leave it a single self-contained file

  // Which bank and which state of it: a random id given at creation, and a revision every
  // write bumps. nullopt for banks from before revisions (they gain one when next written).
  struct Version {
    std::string bank_id;
    uint64_t revision = 0;
  };
  std::optional<Version> version() const;

 private:
  void insert_result(int64_t question, int64_t model, const ResultRow& r);  // holds the lock
  struct Impl;
  explicit BankFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Writes (replaces) `path` atomically: a temporary file renamed into place.
void save_bank(const Dataset& data, const std::string& path);
Dataset load_bank_data(const std::string& path);
// Reads the snapshot when it matches the bank (exact index, TF-IDF); else builds from the rows
// and leaves a fresh snapshot (best effort: a read-only folder just means no cache).
PriorBank open_bank(const std::string& path, const BankOptions& options = {});

// Whether `files` name one .sqlite bank (else they are data files).
inline bool is_sqlite_bank(const std::vector<std::string>& files) {
  return files.size() == 1 && files[0].ends_with(".sqlite");
}

// A bank from a .sqlite file, or built from data files (RouterDC, RouterBench, JSONL) and the
// feedback `journal` (a .sqlite bank the gateway writes feedback to; "" or a missing file:
// none) folded in.
PriorBank load_bank_from(const std::vector<std::string>& files, const BankOptions& options = {},
                         const std::string& journal = "");

}  // namespace smacs
