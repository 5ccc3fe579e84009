#include "eval/aggregate_cache.h"

#include <sqlite3.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/sqlite.h"

namespace smacs {

namespace {

constexpr const char* kSchema = R"sql(
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS aggregate_replies(key TEXT PRIMARY KEY, content TEXT NOT NULL,
                                             mean_logprob REAL);
)sql";

}  // namespace

std::string AggregateKey::text() const {
  return nlohmann::json{aggregator, question, subset, settings, sample}.dump();
}

AggregateCache::AggregateCache(const std::string& path) : path_(path) {
  const auto dir = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(path + ": cannot open the aggregator cache (" + why + ")");
  }
  sqlite3_busy_timeout(db_, 5000);
  try {
    sql_exec(db_, path, kSchema);
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

AggregateCache::~AggregateCache() { sqlite3_close(db_); }

std::optional<AggregateCandidate> AggregateCache::find(const AggregateKey& key) const {
  std::lock_guard lock(mutex_);
  SqlStmt q(db_, path_, "SELECT content, mean_logprob FROM aggregate_replies WHERE key = ?",
            "not an aggregator cache");
  q.text(1, key.text());
  if (sqlite3_step(q.s) != SQLITE_ROW) return std::nullopt;
  AggregateCandidate c{.text = q.col_text(0)};
  if (sqlite3_column_type(q.s, 1) != SQLITE_NULL) c.mean_logprob = sqlite3_column_double(q.s, 1);
  return c;
}

void AggregateCache::put(const AggregateKey& key, const AggregateCandidate& candidate) {
  std::lock_guard lock(mutex_);
  SqlStmt q(db_, path_,
            "INSERT OR REPLACE INTO aggregate_replies(key, content, mean_logprob) VALUES (?, ?, ?)",
            "not an aggregator cache");
  q.text(1, key.text());
  q.text(2, candidate.text);
  q.real(3, candidate.mean_logprob);
  if (sqlite3_step(q.s) != SQLITE_DONE)
    throw Error(path_ + ": cannot store an aggregator reply (" + sqlite3_errmsg(db_) + ")");
}

size_t AggregateCache::size() const {
  std::lock_guard lock(mutex_);
  SqlStmt q(db_, path_, "SELECT COUNT(*) FROM aggregate_replies", "not an aggregator cache");
  return sqlite3_step(q.s) == SQLITE_ROW ? static_cast<size_t>(q.col_int(0)) : 0;
}

}  // namespace smacs
