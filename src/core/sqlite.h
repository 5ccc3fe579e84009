// SQLite helpers shared by the bank store and the embedding cache. Errors are smacs::Error
// "<path>: <what>", or just "<what>" when `path` is "" (the caller names the file itself).
#pragma once
#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>

#include "core/error.h"
#include "core/record.h"

namespace smacs {

inline std::string sql_error(const std::string& path, const std::string& what) {
  return path.empty() ? what : path + ": " + what;
}

// Runs SQL that returns no rows.
inline void sql_exec(sqlite3* db, const std::string& path, const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    const std::string err = msg ? msg : sqlite3_errmsg(db);
    sqlite3_free(msg);
    throw Error(sql_error(path, err));
  }
}

// Runs `change` in one write transaction: all of it is committed, or (it threw) none.
template <typename F>
auto sql_transaction(sqlite3* db, const std::string& path, F&& change) {
  sql_exec(db, path, "BEGIN IMMEDIATE");
  try {
    if constexpr (std::is_void_v<decltype(change())>) {
      change();
      sql_exec(db, path, "COMMIT");
    } else {
      auto result = change();
      sql_exec(db, path, "COMMIT");
      return result;
    }
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

// A prepared statement that finalizes itself, with typed binds and column reads.
struct SqlStmt {
  sqlite3_stmt* s = nullptr;
  // Throws "<path>: <what> (<SQLite's message>)" when `sql` cannot be prepared (e.g. the file
  // is not the database the caller expects).
  SqlStmt(sqlite3* db, const std::string& path, const char* sql, const char* what) {
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK)
      throw Error(sql_error(path, std::string(what) + " (" + sqlite3_errmsg(db) + ")"));
  }
  ~SqlStmt() { sqlite3_finalize(s); }
  SqlStmt(const SqlStmt&) = delete;
  SqlStmt& operator=(const SqlStmt&) = delete;

  void text(int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void blob(int i, const void* data, size_t bytes) {
    sqlite3_bind_blob64(s, i, data, bytes, SQLITE_TRANSIENT);
  }
  template <class T>  // NULL for nullopt
  void real(int i, const std::optional<T>& v) {
    v ? sqlite3_bind_double(s, i, static_cast<double>(*v)) : sqlite3_bind_null(s, i);
  }
  void integer(int i, const std::optional<int64_t>& v) {
    v ? sqlite3_bind_int64(s, i, *v) : sqlite3_bind_null(s, i);
  }
  void integer(int i, int64_t v, bool null = false) {
    null ? sqlite3_bind_null(s, i) : sqlite3_bind_int64(s, i, v);
  }
  std::string col_text(int c) {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(s, c));
    return p ? std::string(p, sqlite3_column_bytes(s, c)) : std::string();
  }
  float col_real(int c) {
    return sqlite3_column_type(s, c) == SQLITE_NULL
               ? kMissing
               : static_cast<float>(sqlite3_column_double(s, c));
  }
  int64_t col_int(int c) { return sqlite3_column_int64(s, c); }
  void reset() {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
};

}  // namespace smacs
