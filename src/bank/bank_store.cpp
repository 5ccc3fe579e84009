#include "bank/bank_store.h"

#include <sqlite3.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "core/error.h"

namespace smacs {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE models(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE questions(id INTEGER PRIMARY KEY, ext_id TEXT NOT NULL, task TEXT NOT NULL,
                       question TEXT NOT NULL, gold TEXT NOT NULL DEFAULT '');
CREATE TABLE results(question_id INTEGER NOT NULL REFERENCES questions(id),
                     model_id INTEGER NOT NULL REFERENCES models(id),
                     score REAL, response TEXT, cost REAL,
                     PRIMARY KEY(question_id, model_id));
)sql";
constexpr const char* kFormat = "smacs-bank-1";

struct Db {
  sqlite3* handle = nullptr;
  std::string path;
  ~Db() { sqlite3_close(handle); }
  void exec(const char* sql) {
    char* msg = nullptr;
    if (sqlite3_exec(handle, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
      std::string err = msg ? msg : "unknown error";
      sqlite3_free(msg);
      throw Error(path + ": " + err);
    }
  }
};

struct Stmt {
  sqlite3_stmt* s = nullptr;
  Stmt(Db& db, const char* sql) {
    if (sqlite3_prepare_v2(db.handle, sql, -1, &s, nullptr) != SQLITE_OK)
      throw Error(db.path + ": not a smacs prior bank (" + sqlite3_errmsg(db.handle) + ")");
  }
  ~Stmt() { sqlite3_finalize(s); }
  std::string text(int col) {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
    return p ? std::string(p, sqlite3_column_bytes(s, col)) : std::string();
  }
  float real_or_missing(int col) {
    return sqlite3_column_type(s, col) == SQLITE_NULL ? kMissing
                                                      : static_cast<float>(sqlite3_column_double(s, col));
  }
};

void open_db(Db& db, const std::string& path, int flags) {
  db.path = path;
  if (sqlite3_open_v2(path.c_str(), &db.handle, flags, nullptr) != SQLITE_OK)
    throw Error(path + ": cannot open SQLite file (" + sqlite3_errmsg(db.handle) + ")");
  sqlite3_busy_timeout(db.handle, 5000);
}

void bind_real_or_null(sqlite3_stmt* s, int i, float v) {
  if (is_missing(v)) sqlite3_bind_null(s, i);
  else sqlite3_bind_double(s, i, v);
}

}  // namespace

void save_bank(const Dataset& data, const std::string& path) {
  const std::string tmp = path + ".tmp";
  std::filesystem::remove(tmp);
  {
    Db db;
    open_db(db, tmp, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    db.exec("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;");
    db.exec(kSchema);
    db.exec("BEGIN");
    {
      Stmt meta(db, "INSERT INTO meta VALUES('format', ?)");
      sqlite3_bind_text(meta.s, 1, kFormat, -1, SQLITE_STATIC);
      sqlite3_step(meta.s);
      Stmt model(db, "INSERT INTO models(id, name) VALUES(?, ?)");
      for (size_t m = 0; m < data.models.size(); ++m) {
        sqlite3_bind_int64(model.s, 1, static_cast<int64_t>(m));
        sqlite3_bind_text(model.s, 2, data.models[m].c_str(), -1, SQLITE_TRANSIENT);
        if (sqlite3_step(model.s) != SQLITE_DONE) throw Error(path + ": duplicate model name");
        sqlite3_reset(model.s);
      }
      Stmt q(db, "INSERT INTO questions(id, ext_id, task, question, gold) VALUES(?,?,?,?,?)");
      Stmt res(db, "INSERT INTO results VALUES(?,?,?,?,?)");
      for (size_t i = 0; i < data.records.size(); ++i) {
        const Record& r = data.records[i];
        sqlite3_bind_int64(q.s, 1, static_cast<int64_t>(i));
        sqlite3_bind_text(q.s, 2, r.id.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q.s, 3, r.task.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q.s, 4, r.question.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q.s, 5, r.gold.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_step(q.s);
        sqlite3_reset(q.s);
        for (size_t m = 0; m < data.models.size(); ++m) {
          const bool has_response = !r.responses.empty() && !r.responses[m].empty();
          const float cost = r.costs.empty() ? kMissing : r.costs[m];
          if (is_missing(r.scores[m]) && !has_response) continue;
          sqlite3_bind_int64(res.s, 1, static_cast<int64_t>(i));
          sqlite3_bind_int64(res.s, 2, static_cast<int64_t>(m));
          bind_real_or_null(res.s, 3, r.scores[m]);
          if (has_response) sqlite3_bind_text(res.s, 4, r.responses[m].c_str(), -1, SQLITE_TRANSIENT);
          else sqlite3_bind_null(res.s, 4);
          bind_real_or_null(res.s, 5, cost);
          sqlite3_step(res.s);
          sqlite3_reset(res.s);
        }
      }
    }
    db.exec("COMMIT");
  }
  std::filesystem::rename(tmp, path);
}

Dataset load_bank_data(const std::string& path) {
  if (!std::filesystem::exists(path)) throw Error(path + ": no such prior bank file");
  Db db;
  open_db(db, path, SQLITE_OPEN_READONLY);
  {
    Stmt meta(db, "SELECT value FROM meta WHERE key='format'");
    if (sqlite3_step(meta.s) != SQLITE_ROW || meta.text(0) != kFormat)
      throw Error(path + ": not a smacs prior bank (format " + std::string(kFormat) + " expected)");
  }
  Dataset data;
  Stmt models(db, "SELECT id, name FROM models ORDER BY id");
  while (sqlite3_step(models.s) == SQLITE_ROW) data.models.push_back(models.text(1));
  Stmt q(db, "SELECT ext_id, task, question, gold FROM questions ORDER BY id");
  while (sqlite3_step(q.s) == SQLITE_ROW) {
    Record r;
    r.id = q.text(0), r.task = q.text(1), r.question = q.text(2), r.gold = q.text(3);
    r.scores.assign(data.models.size(), kMissing);
    data.records.push_back(std::move(r));
  }
  Stmt res(db, "SELECT question_id, model_id, score, response, cost FROM results");
  int rc;
  while ((rc = sqlite3_step(res.s)) == SQLITE_ROW) {
    const auto qi = static_cast<size_t>(sqlite3_column_int64(res.s, 0));
    const auto mi = static_cast<size_t>(sqlite3_column_int64(res.s, 1));
    if (qi >= data.records.size() || mi >= data.models.size())
      throw Error(path + ": corrupt bank (result for unknown question or model)");
    Record& r = data.records[qi];
    r.scores[mi] = res.real_or_missing(2);
    if (sqlite3_column_type(res.s, 3) != SQLITE_NULL) {
      r.responses.resize(data.models.size());
      r.responses[mi] = res.text(3);
    }
    const float cost = res.real_or_missing(4);
    if (!is_missing(cost)) {
      r.costs.resize(data.models.size(), kMissing);
      r.costs[mi] = cost;
    }
  }
  if (rc != SQLITE_DONE) throw Error(path + ": corrupt bank (" + sqlite3_errmsg(db.handle) + ")");
  return data;
}

PriorBank open_bank(const std::string& path, IndexKind kind) {
  return build_bank(load_bank_data(path), kind);
}

}  // namespace smacs
