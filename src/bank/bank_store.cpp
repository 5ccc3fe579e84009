#include "bank/bank_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <random>

#include "bank/snapshot.h"
#include "core/error.h"
#include "core/sqlite.h"
#include "data/load.h"

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

}  // namespace

struct BankFile::Impl {
  std::string path;
  sqlite3* db = nullptr;
  mutable std::mutex mutex;

  void exec(const char* sql) { sql_exec(db, path, sql); }
  // Every question row with its bank id, without results. The caller holds `mutex`.
  std::vector<std::pair<int64_t, Record>> read_questions() const {
    std::vector<std::pair<int64_t, Record>> out;
    Stmt q(db, path,
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
  void step_done(Stmt& st) {
    if (sqlite3_step(st.s) != SQLITE_DONE)
      throw Error(path + ": write failed (" + sqlite3_errmsg(db) + ")");
  }

  // Every change bumps the bank's revision in the same transaction, so a snapshot made from
  // revision r (bank/snapshot.h) is known stale once anything was written. In a bulk
  // transaction (begin/commit) the bump happened at begin(). The caller holds `mutex`.
  bool bulk = false;
  void bump() { exec("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'"); }
  int64_t write(const std::function<int64_t()>& change) {
    if (bulk) return change();
    return sql_transaction(db, path, [&] {
      bump();
      return change();
    });
  }
};

// A fresh random id names this bank file in its snapshots: a bank replaced by another file at
// the same path (save_bank) starts again at revision 0 and must not match the old snapshot.
std::string new_bank_id() {
  std::random_device rd;
  const uint64_t a = (uint64_t(rd()) << 32) ^ rd(),
                 b = std::chrono::steady_clock::now().time_since_epoch().count();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b));
  return buf;
}

BankFile::BankFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BankFile::~BankFile() {
  if (impl_) sqlite3_close(impl_->db);
}

std::unique_ptr<BankFile> BankFile::open(const std::string& path, Mode mode) {
  const bool create = mode == Mode::kCreate;
  if (!create && !std::filesystem::exists(path)) throw Error(path + ": no such prior bank file");
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  const int flags = create                 ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                    : mode == Mode::kWrite ? SQLITE_OPEN_READWRITE
                                           : SQLITE_OPEN_READONLY;
  if (sqlite3_open_v2(path.c_str(), &impl->db, flags, nullptr) != SQLITE_OK) {
    const std::string err = sqlite3_errmsg(impl->db);
    sqlite3_close(impl->db);
    throw Error(path + ": cannot open SQLite file (" + err + ")");
  }
  sqlite3_busy_timeout(impl->db, 5000);
  std::unique_ptr<BankFile> bank(new BankFile(std::move(impl)));
  Impl& d = *bank->impl_;
  try {
    // Writers: WAL + synchronous=NORMAL, so each commit survives the process being killed.
    if (mode != Mode::kRead) d.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    if (create) d.exec(kSchema);
    if (mode != Mode::kRead) {  // banks written before revisions existed get them now
      const std::string ids = "INSERT OR IGNORE INTO meta VALUES('revision', '0'), ('bank_id', '" +
                              new_bank_id() + "')";
      d.exec(ids.c_str());
    }
    Stmt meta(d.db, path, "SELECT value FROM meta WHERE key='format'");
    if (sqlite3_step(meta.s) != SQLITE_ROW || meta.col_text(0) != kFormat)
      throw Error(path + ": not a smacs prior bank (format " + std::string(kFormat) + " expected)");
  } catch (const Error& e) {
    const std::string msg = e.what();
    throw Error(msg.find("not a smacs prior bank") != std::string::npos
                    ? msg
                    : path + ": not a smacs prior bank (" + msg + ")");
  }
  return bank;
}

int64_t BankFile::add_question(const Record& r) {
  std::lock_guard lock(impl_->mutex);
  return impl_->write([&] {
    Stmt ins(impl_->db, impl_->path,
             "INSERT OR IGNORE INTO questions(ext_id, task, question, gold, tests, grader) "
             "VALUES(?,?,?,?,?,?)");
    int column = 1;
    for (const std::string* text : {&r.id, &r.task, &r.question, &r.gold, &r.tests, &r.grader})
      ins.text(column++, *text);
    impl_->step_done(ins);
    Stmt get(impl_->db, impl_->path, "SELECT id FROM questions WHERE ext_id = ?");
    get.text(1, r.id);
    sqlite3_step(get.s);
    return get.col_int(0);
  });
}

int64_t BankFile::add_model(const std::string& name) {
  std::lock_guard lock(impl_->mutex);
  return impl_->write([&] {
    Stmt ins(impl_->db, impl_->path, "INSERT OR IGNORE INTO models(name) VALUES(?)");
    ins.text(1, name);
    impl_->step_done(ins);
    Stmt get(impl_->db, impl_->path, "SELECT id FROM models WHERE name = ?");
    get.text(1, name);
    sqlite3_step(get.s);
    return get.col_int(0);
  });
}

void BankFile::put_result(int64_t question, int64_t model, const ResultRow& r) {
  std::lock_guard lock(impl_->mutex);
  impl_->write([&] {
    insert_result(question, model, r);
    return int64_t{0};
  });
}

void BankFile::insert_result(int64_t question, int64_t model, const ResultRow& r) {
  // A value recorded again replaces the old one; a missing (NULL) one never erases it.
  Stmt ins(
      impl_->db, impl_->path,
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
  impl_->step_done(ins);
}

std::set<std::pair<int64_t, int64_t>> BankFile::results_present() const {
  std::lock_guard lock(impl_->mutex);
  std::set<std::pair<int64_t, int64_t>> out;
  Stmt q(impl_->db, impl_->path, "SELECT question_id, model_id FROM results");
  while (sqlite3_step(q.s) == SQLITE_ROW) out.emplace(q.col_int(0), q.col_int(1));
  return out;
}

std::vector<std::pair<int64_t, Record>> BankFile::questions() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->read_questions();
}

void BankFile::remove_model(const std::string& name) {
  std::lock_guard lock(impl_->mutex);
  Stmt get(impl_->db, impl_->path, "SELECT id FROM models WHERE name = ?");
  get.text(1, name);
  if (sqlite3_step(get.s) != SQLITE_ROW)
    throw Error(impl_->path + ": model '" + name + "' is not in the bank");
  const int64_t id = get.col_int(0);
  impl_->write([&] {
    Stmt del_results(impl_->db, impl_->path, "DELETE FROM results WHERE model_id = ?");
    del_results.integer(1, id);
    impl_->step_done(del_results);
    Stmt del_model(impl_->db, impl_->path, "DELETE FROM models WHERE id = ?");
    del_model.integer(1, id);
    impl_->step_done(del_model);
    return int64_t{0};
  });
}

std::optional<BankFile::Version> BankFile::version() const {
  std::lock_guard lock(impl_->mutex);
  Stmt q(impl_->db, impl_->path,
         "SELECT (SELECT value FROM meta WHERE key = 'bank_id'), "
         "(SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'revision')");
  if (sqlite3_step(q.s) != SQLITE_ROW || sqlite3_column_type(q.s, 0) == SQLITE_NULL ||
      sqlite3_column_type(q.s, 1) == SQLITE_NULL)
    return std::nullopt;
  return Version{q.col_text(0), static_cast<uint64_t>(q.col_int(1))};
}

Dataset BankFile::load() const {
  std::lock_guard lock(impl_->mutex);
  Dataset data;
  // Bank ids in ascending order: a result's row and column are found by binary search.
  std::vector<int64_t> model_ids, question_ids;
  Stmt models(impl_->db, impl_->path, "SELECT id, name FROM models ORDER BY id");
  while (sqlite3_step(models.s) == SQLITE_ROW) {
    model_ids.push_back(models.col_int(0));
    data.models.push_back(models.col_text(1));
  }
  auto questions = impl_->read_questions();
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
  Stmt res(impl_->db, impl_->path,
           "SELECT question_id, model_id, score, response, cost FROM results");
  int rc;
  while ((rc = sqlite3_step(res.s)) == SQLITE_ROW) {
    const int64_t qi = position(question_ids, res.col_int(0));
    const int64_t mi = position(model_ids, res.col_int(1));
    if (qi < 0 || mi < 0)
      throw Error(impl_->path + ": corrupt bank (result for an unknown question or model)");
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
  if (rc != SQLITE_DONE)
    throw Error(impl_->path + ": corrupt bank (" + sqlite3_errmsg(impl_->db) + ")");
  return data;
}

void save_bank(const Dataset& data, const std::string& path) {
  const std::string tmp = path + ".tmp";
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(tmp + suffix);
  {
    auto bank = BankFile::open(tmp, BankFile::Mode::kCreate);
    bank->begin();  // one transaction: a bulk import is all or nothing
    std::vector<int64_t> model_ids;
    for (const auto& m : data.models) model_ids.push_back(bank->add_model(m));
    for (const auto& r : data.records) {
      const int64_t q = bank->add_question(r);
      for (size_t m = 0; m < data.models.size(); ++m) {
        ResultRow row;
        if (!is_missing(r.scores[m])) row.score = r.scores[m];
        if (!r.responses.empty()) row.response = r.responses[m];
        if (!r.costs.empty() && !is_missing(r.costs[m])) row.cost = r.costs[m];
        if (!row.score && row.response.empty()) continue;
        bank->put_result(q, model_ids[m], row);
      }
    }
    bank->commit();
    bank->make_portable();
  }
  std::filesystem::rename(tmp, path);
}

void BankFile::begin() {
  std::lock_guard lock(impl_->mutex);
  impl_->exec("BEGIN IMMEDIATE");
  impl_->bump();
  impl_->bulk = true;
}

void BankFile::commit() {
  std::lock_guard lock(impl_->mutex);
  impl_->exec("COMMIT");
  impl_->bulk = false;
}

void BankFile::make_portable() {
  std::lock_guard lock(impl_->mutex);
  impl_->exec("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;");
}

Dataset load_bank_data(const std::string& path) {
  return BankFile::open(path, BankFile::Mode::kRead)->load();
}

PriorBank open_bank(const std::string& path, const BankOptions& options) {
  const auto file = BankFile::open(path, BankFile::Mode::kRead);
  // The version is read before the rows: a write in between makes the snapshot older than its
  // label says, never newer, so it can only be ignored later, never wrongly trusted.
  const auto version = file->version();
  const bool cacheable = version && options.index == IndexKind::kExact && !options.embedder;
  const std::string snap = snapshot_path(path);
  if (cacheable)
    if (auto bank = load_snapshot(snap, *version)) return std::move(*bank);
  PriorBank bank = build_bank(file->load(), options);
  if (cacheable) {
    try {
      save_snapshot(bank, *version, snap);
    } catch (const std::exception&) {
      // only a cache: a read-only folder or a full disk leaves the bank as it is
    }
  }
  return bank;
}

PriorBank load_bank_from(const std::vector<std::string>& files, const BankOptions& options,
                         const std::string& journal) {
  if (is_sqlite_bank(files)) return open_bank(files[0], options);
  Dataset data = load_files(files);
  if (!journal.empty() && std::filesystem::exists(journal))
    merge_into(data, BankFile::open(journal, BankFile::Mode::kRead)->load());
  return build_bank(std::move(data), options);
}

}  // namespace smacs
