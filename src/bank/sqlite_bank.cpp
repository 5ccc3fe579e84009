// The SQLite engine of BankFile: one file, WAL journal, every write its own transaction (or
// one bulk transaction between begin and commit) that also bumps the bank's revision.
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <functional>

#include "bank/engines.h"
#include "core/error.h"
#include "core/sqlite.h"

namespace smacs {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS questions(id INTEGER PRIMARY KEY, ext_id TEXT NOT NULL UNIQUE, task TEXT NOT NULL,
                       question TEXT NOT NULL, gold TEXT NOT NULL DEFAULT '', tests TEXT NOT NULL DEFAULT '',
                       grader TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS results(question_id INTEGER NOT NULL REFERENCES questions(id),
                     model_id INTEGER NOT NULL REFERENCES models(id),
                     score REAL, response TEXT, cost REAL, latency_ms REAL,
                     prompt_tokens INTEGER, completion_tokens INTEGER,
                     PRIMARY KEY(question_id, model_id));
INSERT OR IGNORE INTO meta VALUES('format', 'smacs-bank-2');
)sql";
constexpr const char* kFormat = "smacs-bank-2";

// Every query of a bank file: one that cannot be prepared means the file is not a bank.
struct Stmt : SqlStmt {
  Stmt(sqlite3* db, const std::string& path, const char* sql)
      : SqlStmt(db, path, sql, "not a smacs prior bank") {}
};

class SqliteBank final : public BankFile {
 public:
  SqliteBank(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  ~SqliteBank() override { sqlite3_close(db_); }

  void check_format(Mode mode);

  int64_t add_question(const Record& r) override;
  int64_t add_model(const std::string& name) override;
  void put_result(int64_t question, int64_t model, const ResultRow& r) override {
    std::lock_guard lock(mutex_);
    write([&] {
      insert_result(question, model, r);
      return int64_t{0};
    });
  }
  // One writer from begin to commit: two threads' begin() would otherwise nest transactions.
  void add_scored_question(const Record& r, const std::string& model,
                           const ResultRow& result) override {
    std::lock_guard lock(mutex_);
    BankFile::add_scored_question(r, model, result);
  }
  std::set<std::pair<int64_t, int64_t>> results_present() const override;
  std::vector<std::pair<int64_t, Record>> questions() const override {
    std::lock_guard lock(mutex_);
    return read_questions();
  }
  void remove_model(const std::string& name) override;
  Dataset load() const override;
  void begin() override {
    std::lock_guard lock(mutex_);
    exec("BEGIN IMMEDIATE");
    bump();
    bulk_ = true;
  }
  void commit() override {
    std::lock_guard lock(mutex_);
    exec("COMMIT");
    bulk_ = false;
  }
  void make_portable() override {
    std::lock_guard lock(mutex_);
    exec("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;");
  }
  std::optional<Version> version() const override {
    std::lock_guard lock(mutex_);
    return read_version();
  }
  std::optional<Version> loaded_version() const override {
    std::lock_guard lock(mutex_);
    return loaded_;
  }
  std::string location() const override { return path_; }

 private:
  void exec(const char* sql) const { sql_exec(db_, path_, sql); }
  std::vector<std::pair<int64_t, Record>> read_questions() const;  // the caller holds mutex_
  std::optional<Version> read_version() const;                     // the caller holds mutex_
  void step_done(Stmt& st) {
    if (sqlite3_step(st.s) != SQLITE_DONE)
      throw Error(path_ + ": write failed (" + sqlite3_errmsg(db_) + ")");
  }
  void insert_result(int64_t question, int64_t model, const ResultRow& r);
  int64_t id_of(const char* select, const std::string& key);

  // Every change bumps the bank's revision in the same transaction, so a snapshot made from
  // revision r (bank/snapshot.h) is known stale once anything was written. In a bulk
  // transaction (begin/commit) the bump happened at begin(). The caller holds mutex_.
  void bump() { exec("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'"); }
  int64_t write(const std::function<int64_t()>& change) {
    if (bulk_) return change();
    return sql_transaction(db_, path_, [&] {
      bump();
      return change();
    });
  }

  std::string path_;
  sqlite3* db_;
  mutable std::recursive_mutex mutex_;  // add_scored_question holds it around begin..commit
  bool bulk_ = false;
  mutable std::optional<Version> loaded_;
};

void SqliteBank::check_format(Mode mode) {
  const bool create = mode == Mode::kCreate;
  try {
    // Writers: WAL + synchronous=NORMAL, so each commit survives the process being killed.
    if (mode != Mode::kRead) exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    if (create) exec(kSchema);
    if (mode != Mode::kRead) {  // banks written before revisions existed get them now
      const std::string ids = "INSERT OR IGNORE INTO meta VALUES('revision', '0'), ('bank_id', '" +
                              new_bank_id() + "')";
      exec(ids.c_str());
    }
    Stmt meta(db_, path_, "SELECT value FROM meta WHERE key='format'");
    if (sqlite3_step(meta.s) != SQLITE_ROW || meta.col_text(0) != kFormat)
      throw Error(path_ + ": not a smacs prior bank (format " + std::string(kFormat) +
                  " expected)");
  } catch (const Error& e) {
    const std::string msg = e.what();
    throw Error(msg.find("not a smacs prior bank") != std::string::npos
                    ? msg
                    : path_ + ": not a smacs prior bank (" + msg + ")");
  }
}

std::vector<std::pair<int64_t, Record>> SqliteBank::read_questions() const {
  std::vector<std::pair<int64_t, Record>> out;
  Stmt q(db_, path_,
         "SELECT id, ext_id, task, question, gold, tests, grader FROM questions ORDER BY id");
  while (sqlite3_step(q.s) == SQLITE_ROW) {
    Record r;
    r.id = q.col_text(1);
    r.task = q.col_text(2);
    r.question = q.col_text(3);
    r.gold = q.col_text(4);
    r.tests = q.col_text(5);
    r.grader = q.col_text(6);
    out.emplace_back(q.col_int(0), std::move(r));
  }
  return out;
}

int64_t SqliteBank::id_of(const char* select, const std::string& key) {
  Stmt get(db_, path_, select);
  get.text(1, key);
  sqlite3_step(get.s);
  return get.col_int(0);
}

int64_t SqliteBank::add_question(const Record& r) {
  std::lock_guard lock(mutex_);
  return write([&] {
    Stmt ins(db_, path_,
             "INSERT OR IGNORE INTO questions(ext_id, task, question, gold, tests, grader) "
             "VALUES(?,?,?,?,?,?)");
    int column = 1;
    for (const std::string* text : {&r.id, &r.task, &r.question, &r.gold, &r.tests, &r.grader})
      ins.text(column++, *text);
    step_done(ins);
    return id_of("SELECT id FROM questions WHERE ext_id = ?", r.id);
  });
}

int64_t SqliteBank::add_model(const std::string& name) {
  std::lock_guard lock(mutex_);
  return write([&] {
    Stmt ins(db_, path_, "INSERT OR IGNORE INTO models(name) VALUES(?)");
    ins.text(1, name);
    step_done(ins);
    return id_of("SELECT id FROM models WHERE name = ?", name);
  });
}

void SqliteBank::insert_result(int64_t question, int64_t model, const ResultRow& r) {
  // A value recorded again replaces the old one; a missing (NULL) one never erases it.
  Stmt ins(
      db_, path_,
      "INSERT INTO results VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(question_id, model_id) DO UPDATE "
      "SET "
      "score = COALESCE(excluded.score, score), response = COALESCE(excluded.response, response), "
      "cost = COALESCE(excluded.cost, cost), latency_ms = COALESCE(excluded.latency_ms, "
      "latency_ms), "
      "prompt_tokens = COALESCE(excluded.prompt_tokens, prompt_tokens), "
      "completion_tokens = COALESCE(excluded.completion_tokens, completion_tokens)");
  ins.integer(1, question);
  ins.integer(2, model);
  ins.real(3, r.score);
  if (r.response.empty())
    sqlite3_bind_null(ins.s, 4);
  else
    ins.text(4, r.response);
  ins.real(5, r.cost);
  ins.real(6, r.latency_ms);
  ins.integer(7, r.prompt_tokens);
  ins.integer(8, r.completion_tokens);
  step_done(ins);
}

std::set<std::pair<int64_t, int64_t>> SqliteBank::results_present() const {
  std::lock_guard lock(mutex_);
  std::set<std::pair<int64_t, int64_t>> out;
  Stmt q(db_, path_, "SELECT question_id, model_id FROM results");
  while (sqlite3_step(q.s) == SQLITE_ROW) out.emplace(q.col_int(0), q.col_int(1));
  return out;
}

void SqliteBank::remove_model(const std::string& name) {
  std::lock_guard lock(mutex_);
  Stmt get(db_, path_, "SELECT id FROM models WHERE name = ?");
  get.text(1, name);
  if (sqlite3_step(get.s) != SQLITE_ROW)
    throw Error(path_ + ": model '" + name + "' is not in the bank");
  const int64_t id = get.col_int(0);
  write([&] {
    Stmt del_results(db_, path_, "DELETE FROM results WHERE model_id = ?");
    del_results.integer(1, id);
    step_done(del_results);
    Stmt del_model(db_, path_, "DELETE FROM models WHERE id = ?");
    del_model.integer(1, id);
    step_done(del_model);
    return int64_t{0};
  });
}

std::optional<BankFile::Version> SqliteBank::read_version() const {
  Stmt q(db_, path_,
         "SELECT (SELECT value FROM meta WHERE key = 'bank_id'), "
         "(SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'revision')");
  if (sqlite3_step(q.s) != SQLITE_ROW || sqlite3_column_type(q.s, 0) == SQLITE_NULL ||
      sqlite3_column_type(q.s, 1) == SQLITE_NULL)
    return std::nullopt;
  return Version{q.col_text(0), static_cast<uint64_t>(q.col_int(1))};
}

Dataset SqliteBank::load() const {
  std::lock_guard lock(mutex_);
  // One read transaction: the version and the rows are of the same state.
  exec("BEGIN");
  struct End {
    const SqliteBank* b;
    ~End() { sqlite3_exec(b->db_, "COMMIT", nullptr, nullptr, nullptr); }
  } end{this};
  loaded_ = read_version();
  Dataset data;
  // Bank ids in ascending order: a result's row and column are found by binary search.
  std::vector<int64_t> model_ids, question_ids;
  Stmt models(db_, path_, "SELECT id, name FROM models ORDER BY id");
  while (sqlite3_step(models.s) == SQLITE_ROW) {
    model_ids.push_back(models.col_int(0));
    data.models.push_back(models.col_text(1));
  }
  auto questions = read_questions();
  data.records.reserve(questions.size());
  question_ids.reserve(questions.size());
  for (auto& [id, r] : questions) {
    r.scores.assign(data.models.size(), kMissing);
    question_ids.push_back(id);
    data.records.push_back(std::move(r));
  }
  auto position = [](const std::vector<int64_t>& ids, int64_t id) -> int64_t {
    const auto it = std::lower_bound(ids.begin(), ids.end(), id);
    return it != ids.end() && *it == id ? it - ids.begin() : -1;
  };
  Stmt res(db_, path_, "SELECT question_id, model_id, score, response, cost FROM results");
  int rc;
  while ((rc = sqlite3_step(res.s)) == SQLITE_ROW) {
    const int64_t qi = position(question_ids, res.col_int(0));
    const int64_t mi = position(model_ids, res.col_int(1));
    if (qi < 0 || mi < 0)
      throw Error(path_ + ": corrupt bank (result for an unknown question or model)");
    Record& r = data.records[static_cast<size_t>(qi)];
    const auto m = static_cast<size_t>(mi);
    r.scores[m] = res.col_real(2);
    if (sqlite3_column_type(res.s, 3) != SQLITE_NULL) {
      r.responses.resize(data.models.size());
      r.responses[m] = res.col_text(3);
    }
    if (const float cost = res.col_real(4); !is_missing(cost)) {
      r.costs.resize(data.models.size(), kMissing);
      r.costs[m] = cost;
    }
  }
  if (rc != SQLITE_DONE) throw Error(path_ + ": corrupt bank (" + sqlite3_errmsg(db_) + ")");
  return data;
}

}  // namespace

std::unique_ptr<BankFile> open_sqlite_bank(const std::string& path, BankFile::Mode mode) {
  const bool create = mode == BankFile::Mode::kCreate;
  if (!create && !std::filesystem::exists(path)) throw Error(path + ": no such prior bank file");
  sqlite3* db = nullptr;
  const int flags = create                           ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                    : mode == BankFile::Mode::kWrite ? SQLITE_OPEN_READWRITE
                                                     : SQLITE_OPEN_READONLY;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    const std::string err = sqlite3_errmsg(db);
    sqlite3_close(db);
    throw Error(path + ": cannot open SQLite file (" + err + ")");
  }
  sqlite3_busy_timeout(db, 5000);
  auto bank = std::make_unique<SqliteBank>(path, db);
  bank->check_format(mode);
  return bank;
}

}  // namespace smacs
