#include "embedding/embedding_cache.h"

#include <sqlite3.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "core/cache_dir.h"
#include "core/error.h"
#include "core/sqlite.h"

namespace smacs {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS embedders(id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,
                                     probe BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS vectors(embedder INTEGER NOT NULL REFERENCES embedders(id),
                                   text TEXT NOT NULL, vec BLOB NOT NULL,
                                   UNIQUE(embedder, text));
)sql";

// Embedded at the first bank of every run and compared with what this key gave before: a
// different model served under the same name (or a changed GGUF file) empties the key.
constexpr const char* kProbeText = "smacs embedding cache probe: is this the same model?";

// A stored vector: the blob of its floats. SQLite gives no alignment guarantee, so copy first.
SparseVec from_blob(const void* data, size_t bytes) {
  std::vector<float> values(bytes / sizeof(float));
  std::memcpy(values.data(), data, values.size() * sizeof(float));
  return dense_vector(std::move(values));
}

bool same_vector(const SparseVec& a, const SparseVec& b) {
  return a.val.size() == b.val.size() && dot(a, b) > 0.999f;  // both L2-normalised
}

class CachedEmbedder final : public Embedder {
 public:
  CachedEmbedder(std::shared_ptr<Embedder> inner, std::string path)
      : inner_(std::move(inner)), path_(std::move(path)) {
    guard([&] { open(); });
  }
  ~CachedEmbedder() override { sqlite3_close(db_); }

  void fit(const std::vector<std::string>& corpus) override { inner_->fit(corpus); }
  SparseVec embed(std::string_view text) const override { return inner_->embed(text); }
  std::string name() const override { return inner_->name(); }
  std::string cache_key() const override { return inner_->cache_key(); }

  std::vector<SparseVec> embed_all(const std::vector<std::string>& texts) const override {
    std::lock_guard lock(mu_);
    if (db_ && key_id_ < 0) check_key();  // may embed the probe: its errors are the embedder's
    std::vector<std::optional<SparseVec>> found(texts.size());
    if (db_) guard([&] { lookup(texts, found); });
    std::vector<std::string> missing;  // each missing text once, even when repeated
    std::unordered_map<std::string_view, size_t> slot;
    for (size_t i = 0; i < texts.size(); ++i)
      if (!found[i] && slot.emplace(texts[i], missing.size()).second) missing.push_back(texts[i]);
    const std::vector<SparseVec> fresh =
        missing.empty() ? std::vector<SparseVec>{} : inner_->embed_all(missing);
    if (db_ && !fresh.empty()) guard([&] { store(missing, fresh); });
    std::vector<SparseVec> out;
    out.reserve(texts.size());
    for (size_t i = 0; i < texts.size(); ++i)
      out.push_back(found[i] ? std::move(*found[i]) : fresh[slot.at(texts[i])]);
    return out;
  }

  // Precomputed vectors, stored as this embedder's (seed_embedding_cache).
  void seed(const std::vector<std::string>& texts, const std::vector<std::vector<float>>& vecs) {
    std::lock_guard lock(mu_);
    if (!db_) throw Error("embedding cache " + path_ + ": cannot be opened");
    if (key_id_ < 0) check_key();
    if (!db_) throw Error("embedding cache " + path_ + ": not usable (see above)");
    std::vector<SparseVec> rows;
    for (const auto& v : vecs) {
      if (v.size() != dim_)
        throw Error("the bank's embeddings have " + std::to_string(v.size()) +
                    " dimensions; the embedder " + name() + " gives " + std::to_string(dim_) +
                    ": give the embedder the bank was embedded with");
      SparseVec d = dense_vector(v);
      l2_normalize(d);
      rows.push_back(std::move(d));
    }
    store(texts, rows);
  }

 private:
  // Runs a cache operation; a failure disables the cache for this run, with one warning.
  template <typename F>
  void guard(F&& f) const {
    try {
      f();
    } catch (const std::exception& e) {
      std::cerr << "smacs: warning: embedding cache " << path_ << " not used: " << e.what()
                << std::endl;
      sqlite3_close(db_);
      db_ = nullptr;
    }
  }

  void open() {
    const auto dir = std::filesystem::path(path_).parent_path();
    if (!dir.empty()) std::filesystem::create_directories(dir);
    if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
        SQLITE_OK)
      throw Error(db_ ? sqlite3_errmsg(db_) : "cannot open");
    sqlite3_busy_timeout(db_, 10000);              // other processes may be filling it too
    sql_exec(db_, "", "PRAGMA journal_mode=WAL");  // "": guard() names the file
    sql_exec(db_, "", kSchema);
  }

  SqlStmt stmt(const char* sql) const { return SqlStmt(db_, "", sql, "unreadable"); }

  // Finds (or creates) this embedder's key; drops what it cached when the model changed.
  void check_key() const {
    const SparseVec probe = inner_->embed(kProbeText);
    guard([&] {
      if (!is_dense(probe)) throw Error("the embedder's vectors are sparse");
      dim_ = probe.val.size();
      auto put_probe = [&](const char* sql) {
        SqlStmt put = stmt(sql);
        put.blob(1, probe.val.data(), dim_ * sizeof(float));
        put.text(2, cache_key());
        if (sqlite3_step(put.s) != SQLITE_DONE) throw Error(sqlite3_errmsg(db_));
      };
      put_probe("INSERT OR IGNORE INTO embedders(probe, key) VALUES(?, ?)");
      SqlStmt get = stmt("SELECT id, probe FROM embedders WHERE key = ?");
      get.text(1, cache_key());
      if (sqlite3_step(get.s) != SQLITE_ROW) throw Error(sqlite3_errmsg(db_));
      key_id_ = get.col_int(0);
      const SparseVec before = from_blob(sqlite3_column_blob(get.s, 1),
                                         static_cast<size_t>(sqlite3_column_bytes(get.s, 1)));
      if (same_vector(before, probe)) return;
      std::cerr << "smacs: embedder " << name()
                << " gives other vectors than before: its cached embeddings are dropped"
                << std::endl;
      SqlStmt drop = stmt("DELETE FROM vectors WHERE embedder = ?");
      drop.integer(1, key_id_);
      if (sqlite3_step(drop.s) != SQLITE_DONE) throw Error(sqlite3_errmsg(db_));
      put_probe("UPDATE embedders SET probe = ? WHERE key = ?");
    });
  }

  void lookup(const std::vector<std::string>& texts,
              std::vector<std::optional<SparseVec>>& found) const {
    SqlStmt get = stmt("SELECT vec FROM vectors WHERE embedder = ? AND text = ?");
    for (size_t i = 0; i < texts.size(); ++i) {
      get.reset();
      get.integer(1, key_id_);
      get.text(2, texts[i]);
      const int rc = sqlite3_step(get.s);
      if (rc == SQLITE_ROW) {
        const auto bytes = static_cast<size_t>(sqlite3_column_bytes(get.s, 0));
        if (bytes == dim_ * sizeof(float))
          found[i] = from_blob(sqlite3_column_blob(get.s, 0), bytes);
      } else if (rc != SQLITE_DONE) {
        throw Error(sqlite3_errmsg(db_));
      }
    }
  }

  void store(const std::vector<std::string>& texts, const std::vector<SparseVec>& vecs) const {
    sql_transaction(db_, "", [&] {
      SqlStmt put = stmt("INSERT OR REPLACE INTO vectors(embedder, text, vec) VALUES(?, ?, ?)");
      for (size_t i = 0; i < texts.size(); ++i) {
        if (!is_dense(vecs[i]) || vecs[i].val.size() != dim_) continue;
        put.reset();
        put.integer(1, key_id_);
        put.text(2, texts[i]);
        put.blob(3, vecs[i].val.data(), vecs[i].val.size() * sizeof(float));
        if (sqlite3_step(put.s) != SQLITE_DONE) throw Error(sqlite3_errmsg(db_));
      }
    });
  }

  std::shared_ptr<Embedder> inner_;
  std::string path_;
  mutable std::mutex mu_;
  mutable sqlite3* db_ = nullptr;  // nullptr: not used in this run
  mutable int64_t key_id_ = -1;
  mutable size_t dim_ = 0;
};

}  // namespace

std::optional<std::string> default_embedding_cache_path() {
  if (const auto dir = cache_dir()) return *dir + "/embeddings.sqlite";
  return std::nullopt;
}

void seed_embedding_cache(const std::string& path, std::shared_ptr<Embedder> embedder,
                          const std::vector<std::string>& texts,
                          const std::vector<std::vector<float>>& vectors) {
  if (!embedder) throw Error("precomputed embeddings need the pretrained embedder they came from");
  CachedEmbedder(std::move(embedder), path).seed(texts, vectors);
}

std::shared_ptr<Embedder> with_embedding_cache(std::shared_ptr<Embedder> inner,
                                               const std::optional<std::string>& path) {
  if (!inner || !path) return inner;
  return std::make_shared<CachedEmbedder>(std::move(inner), *path);
}

}  // namespace smacs
