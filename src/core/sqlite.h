// A prepared SQLite statement that finalizes itself, with typed binds and column reads.
#pragma once
#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/record.h"

namespace smacs {

struct SqlStmt {
  sqlite3_stmt* s = nullptr;
  // Throws smacs::Error "<path>: <what> (<SQLite's message>)" when `sql` cannot be prepared
  // (e.g. the file is not the database the caller expects).
  SqlStmt(sqlite3* db, const std::string& path, const char* sql, const char* what) {
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK)
      throw Error(path + ": " + what + " (" + sqlite3_errmsg(db) + ")");
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
  void real(int i, double v, bool null) {
    null ? sqlite3_bind_null(s, i) : sqlite3_bind_double(s, i, v);
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
