// The prior bank at rest: a SQLite file (bank/sqlite_bank.cpp) or a PostgreSQL database
// (bank/postgres_bank.cpp). It holds data only (questions, gold answers or tests, and per-model
// results); the embeddings and the index are derived when it is opened (the TF-IDF fit is
// deterministic), so no stored vector can go stale. What opening derives is cached in a
// snapshot (bank/snapshot.h: beside a file, in the cache folder for a database), valid while
// the bank is unchanged.
#pragma once
#include <memory>
#include <mutex>
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

// What changed in a bank since a revision, for a replica that follows it (BankFile::changes).
struct BankChanges {
  uint64_t revision = 0;            // the state they lead to
  std::vector<Record> questions{};  // questions new since, with their results (scores over
                                    // `models`, in order; responses and costs left out)
  std::vector<std::string> models{};
  bool rebuild = false;  // more changed than new questions (results of older ones, a model
                         // removed, the bank replaced): reload it whole
};

// An open bank, the seam between the rest of smacs and where banks live. Two engines behind it,
// chosen by `open`'s location: a SQLite file (the embedded default) or a PostgreSQL database
// (postgresql://user@host:port/db: one bank of record for many gateways). Callers never learn
// which. Every write commits at once (or inside begin/commit), so a process killed at any
// moment loses no finished result. Thread-safe. Errors: smacs::Error naming the bank.
class BankFile {
 public:
  enum class Mode { kRead, kWrite, kCreate };  // kRead never changes the bank
  static std::unique_ptr<BankFile> open(const std::string& location, Mode mode);
  virtual ~BankFile() = default;

  // By Record::id (unique in a bank): a question seen again returns its existing row, so
  // results recorded twice for one id merge.
  virtual int64_t add_question(const Record& r) = 0;
  virtual int64_t add_model(const std::string& name) = 0;
  virtual void put_result(int64_t question, int64_t model, const ResultRow& result) = 0;
  // A question with one model's result in one write (the gateway's feedback).
  virtual void add_scored_question(const Record& r, const std::string& model,
                                   const ResultRow& result);
  virtual std::set<std::pair<int64_t, int64_t>> results_present() const = 0;  // (question, model)
  virtual std::vector<std::pair<int64_t, Record>> questions() const = 0;      // without results
  virtual void remove_model(const std::string& name) = 0;                     // throws when unknown
  // Everything, as one consistent state (loaded_version() then names it).
  virtual Dataset load() const = 0;
  virtual void begin() = 0;   // group many writes into one transaction (bulk import)...
  virtual void commit() = 0;  // ...and make them durable together
  // Replaces the whole bank with `data`, as one change.
  virtual void replace_with(const Dataset& data);
  virtual void make_portable() {}  // a file engine: leave one self-contained file

  // Which bank and which state of it: a random id given at creation, and a revision every
  // write bumps. nullopt for banks from before revisions (they gain one when next written).
  using Version = BankVersion;
  virtual std::optional<Version> version() const = 0;
  // The state load() last read (it reads version and rows together).
  virtual std::optional<Version> loaded_version() const = 0;

  // Following a bank other processes write: what changed since `since` (nullopt: this
  // engine cannot tell, reload to see), and a wait of at most `timeout_ms` that ends early
  // when the bank may have changed (false: nothing said so).
  virtual std::optional<BankChanges> changes_since(const Version& /*since*/) const {
    return std::nullopt;
  }
  virtual bool wait_for_change(int timeout_ms);
  // Where it lives, for messages and the local snapshot's name (a URL without its password).
  virtual std::string location() const = 0;
  virtual bool shared() const { return false; }  // other processes may write it while we run

  // Many builders of one bank (prior build): `offer` the (question, model) pairs that still
  // need a result, then each builder `claim`s up to `n` of those for `models` that nobody
  // else holds (a claim older than `lease_ms` is taken over: its builder died). put_result
  // ends a claim. The SQLite engine keeps its offers in memory: one builder at a time.
  virtual void offer(const std::vector<std::pair<int64_t, int64_t>>& pairs);
  virtual std::vector<std::pair<int64_t, int64_t>> claim(const std::vector<int64_t>& models,
                                                         size_t n, int lease_ms);
  // A claim given back at once (its call failed): another builder may take it now.
  virtual void release(std::pair<int64_t, int64_t> /*pair*/) {}
  // The offered pairs of `models` without a result yet, claimed or not (SQLite: none once
  // claimed: one builder).
  virtual std::vector<std::pair<int64_t, int64_t>> unfinished(
      const std::vector<int64_t>& /*models*/) const {
    return {};
  }

 protected:
  BankFile() = default;

 private:
  std::mutex offers_mutex_;
  std::vector<std::pair<int64_t, int64_t>> offers_;  // the in-memory claims of one builder
};

// Whether `location` names a PostgreSQL bank (postgresql:// or postgres://).
bool is_postgres_url(const std::string& location);

// Writes (replaces) `path` atomically: a temporary file renamed into place.
void save_bank(const Dataset& data, const std::string& path);
Dataset load_bank_data(const std::string& path);
// Reads the snapshot when it matches the bank, the embedder and the index kind (all kinds but
// TF-IDF with HNSW are kept; a dense index in a side file); else builds from the rows
// and leaves a fresh snapshot (best effort: a read-only folder just means no cache).
PriorBank open_bank(const std::string& path, const BankOptions& options = {});
PriorBank open_bank(const BankFile& file, const BankOptions& options = {});

// Whether `files` name one bank (a .sqlite file or a PostgreSQL URL); else they are data files.
inline bool is_bank_location(const std::vector<std::string>& files) {
  return files.size() == 1 && (files[0].ends_with(".sqlite") || is_postgres_url(files[0]));
}

// A bank from a .sqlite file, or built from data files (RouterDC, RouterBench, JSONL) and the
// feedback `journal` (a .sqlite bank the gateway writes feedback to; "" or a missing file:
// none) folded in.
PriorBank load_bank_from(const std::vector<std::string>& files, const BankOptions& options = {},
                         const std::string& journal = "");

}  // namespace smacs
