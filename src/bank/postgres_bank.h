// The PostgreSQL engine of BankFile (libpq), private to bank/: one bank of record for many
// gateways and builders. Every write is one transaction that bumps the bank's revision (a row
// lock, so writes commit in revision order), stamps the rows it writes with that revision and
// NOTIFYs smacs_bank: a replica follows by LISTEN plus a revision poll, reading only rows
// newer than its own. postgres_bank.cpp: connection, writes, reads and following;
// postgres_build.cpp: many builders' claims and the whole-bank import.
#pragma once
#include <libpq-fe.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <type_traits>

#include "bank/engines.h"
#include "core/error.h"
#include "core/secrets.h"

namespace smacs {

class PostgresBank final : public BankFile {
 public:
  static constexpr const char* kFormat = "smacs-pg-1";
  static constexpr const char* kChannel = "smacs_bank";
  struct ResultDeleter {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  using Res = std::unique_ptr<PGresult, ResultDeleter>;
  // The first line of a libpq message, without any password it echoes (core/secrets.h).
  static std::string first_line(const char* message);
  PostgresBank(std::string url, Mode mode) : url_(std::move(url)), where_(redact_url(url_)) {
    conn_ = connect();
    std::lock_guard lock(mutex_);
    if (mode == Mode::kCreate) create_schema();
    Res meta = query("SELECT value FROM smacs_meta WHERE key = 'format'", {}, true);
    if (!meta || PQntuples(meta.get()) != 1 || std::string(PQgetvalue(meta.get(), 0, 0)) != kFormat)
      throw Error(where_ + ": not a smacs prior bank (format " + kFormat +
                  " expected; `smacs prior import --out URL` creates one)");
  }
  ~PostgresBank() override {
    PQfinish(conn_);
    if (listener_) PQfinish(listener_);
  }

  // PostgreSQL's text holds every byte but NUL: a row with one is refused, never cut short.
  static void check_text(const Record& r) {
    for (const std::string* f : {&r.id, &r.task, &r.question, &r.gold, &r.tests, &r.grader})
      if (f->find('\0') != std::string::npos)
        throw Error("question '" + r.id.substr(0, r.id.find('\0')) +
                    "': a NUL byte cannot be stored in a PostgreSQL bank");
  }
  int64_t add_question(const Record& r) override {
    check_text(r);
    return write([&](const std::string& rev) {
      Res q = query(
          "INSERT INTO smacs_questions(ext_id, task, question, gold, tests, grader, revision) "
          "VALUES($1,$2,$3,$4,$5,$6,$7) ON CONFLICT(ext_id) DO UPDATE SET ext_id = excluded.ext_id "
          "RETURNING id",
          {&r.id, &r.task, &r.question, &r.gold, &r.tests, &r.grader, &rev});
      return std::stoll(PQgetvalue(q.get(), 0, 0));
    });
  }
  int64_t add_model(const std::string& name) override {
    return write([&](const std::string& rev) {
      Res q = query(
          "INSERT INTO smacs_models(name, revision) VALUES($1, $2) ON CONFLICT(name) DO UPDATE "
          "SET name = excluded.name RETURNING id",
          {&name, &rev});
      return std::stoll(PQgetvalue(q.get(), 0, 0));
    });
  }
  void put_result(int64_t question, int64_t model, const ResultRow& r) override {
    write([&](const std::string& rev) {
      insert_result(question, model, r, rev);
      return int64_t{0};
    });
  }
  // One statement: the question, the model and its result, the revision and the notice.
  void add_scored_question(const Record& r, const std::string& model,
                           const ResultRow& result) override {
    check_text(r);
    const std::string score = result.score ? std::to_string(*result.score) : "";
    std::lock_guard lock(mutex_);
    run([&] {
      (void)query(
          "WITH rev AS (UPDATE smacs_meta SET value = (value::bigint + 1)::text "
          "  WHERE key = 'revision' RETURNING value::bigint AS r), "
          "m AS (INSERT INTO smacs_models(name, revision) SELECT $1, r FROM rev "
          "  ON CONFLICT(name) DO UPDATE SET name = excluded.name RETURNING id), "
          "q AS (INSERT INTO smacs_questions(ext_id, task, question, revision) "
          "  SELECT $2, $3, $4, r FROM rev "
          "  ON CONFLICT(ext_id) DO UPDATE SET ext_id = excluded.ext_id RETURNING id), "
          "res AS (INSERT INTO smacs_results(question_id, model_id, score, revision) "
          "  SELECT q.id, m.id, NULLIF($5, '')::real, rev.r FROM q, m, rev "
          "  ON CONFLICT(question_id, model_id) DO UPDATE SET "
          "  score = COALESCE(excluded.score, smacs_results.score), revision = excluded.revision "
          "  RETURNING 1) "
          "SELECT pg_notify('smacs_bank', r::text) FROM rev, res",
          {&model, &r.id, &r.task, &r.question, &score});
      return 0;
    });
  }
  std::set<std::pair<int64_t, int64_t>> results_present() const override {
    std::set<std::pair<int64_t, int64_t>> out;
    copy_out(
        "COPY (SELECT question_id, model_id FROM smacs_results WHERE score IS NOT NULL) TO STDOUT",
        [&](const std::vector<std::string_view>& f) {
          out.emplace(std::stoll(std::string(f[0])), std::stoll(std::string(f[1])));
        });
    return out;
  }
  std::vector<std::pair<int64_t, Record>> questions() const override {
    std::vector<std::pair<int64_t, Record>> out;
    read_questions("", [&](int64_t id, Record r) { out.emplace_back(id, std::move(r)); });
    return out;
  }
  void remove_model(const std::string& name) override {
    write([&](const std::string& rev) {
      Res q = query("DELETE FROM smacs_models WHERE name = $1 RETURNING id", {&name});
      if (PQntuples(q.get()) == 0)
        throw Error(where_ + ": model '" + name + "' is not in the bank");
      (void)query("UPDATE smacs_meta SET value = $1 WHERE key = 'rebuild_at'", {&rev});
      return int64_t{0};
    });
  }
  Dataset load() const override;
  void begin() override {
    std::lock_guard lock(mutex_);
    ensure_connected();
    (void)query("BEGIN", {});
    bulk_revision_ = bump();
  }
  void commit() override {
    std::lock_guard lock(mutex_);
    (void)query("COMMIT", {});
    bulk_revision_.clear();
  }
  void replace_with(const Dataset& data) override;
  std::optional<Version> version() const override {
    std::lock_guard lock(mutex_);
    return run([&] { return read_version(); });
  }
  std::optional<Version> loaded_version() const override {
    std::lock_guard lock(mutex_);
    return loaded_;
  }
  std::optional<BankChanges> changes_since(const Version& since) const override;
  bool wait_for_change(int timeout_ms) override;
  std::string location() const override { return where_; }
  bool shared() const override { return true; }
  void offer(const std::vector<std::pair<int64_t, int64_t>>& pairs) override;
  std::vector<std::pair<int64_t, int64_t>> claim(const std::vector<int64_t>& models, size_t n,
                                                 int lease_ms) override;
  void release(std::pair<int64_t, int64_t> pair) override;
  std::vector<std::pair<int64_t, int64_t>> unfinished(
      const std::vector<int64_t>& models) const override;

 private:
  PGconn* connect() const {
    const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
    const char* values[] = {url_.c_str(), "5", "smacs", nullptr};
    PGconn* c = PQconnectdbParams(keys, values, 1);
    if (PQstatus(c) != CONNECTION_OK) {
      const std::string why = first_line(PQerrorMessage(c));
      PQfinish(c);
      throw Error(where_ + ": cannot connect to PostgreSQL (" + why + ")");
    }
    PQsetNoticeProcessor(
        c, [](void*, const char*) {}, nullptr);  // NOTICEs are not errors
    return c;
  }
  // A dropped connection (the database restarted) is opened again before the next statement.
  void ensure_connected() const {
    if (PQstatus(conn_) == CONNECTION_OK) return;
    PQreset(conn_);
    if (PQstatus(conn_) != CONNECTION_OK)
      throw Error(where_ + ": cannot connect to PostgreSQL (" + first_line(PQerrorMessage(conn_)) +
                  ")");
  }
  // Runs `f` (outside a bulk transaction), once more after reconnecting if the connection had
  // broken: every statement here is idempotent.
  template <class F>
  std::invoke_result_t<F&> run(F&& f) const {
    ensure_connected();
    try {
      return f();
    } catch (const Error&) {
      if (!bulk_revision_.empty() || PQstatus(conn_) == CONNECTION_OK) throw;
      ensure_connected();
      return f();
    }
  }
  Res query(const char* sql, const std::vector<const std::string*>& params,
            bool tolerate_error = false) const {
    std::vector<const char*> values;
    for (const auto* p : params) values.push_back(p ? p->c_str() : nullptr);
    Res r(PQexecParams(conn_, sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                       nullptr, 0));
    const auto status = PQresultStatus(r.get());
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return r;
    if (tolerate_error) return nullptr;
    throw Error(where_ + ": " + first_line(PQresultErrorMessage(r.get())));
  }
  void create_schema() const;  // under an advisory lock, once
  std::string bump() const {
    Res r = query(
        "UPDATE smacs_meta SET value = (value::bigint + 1)::text WHERE key = 'revision' "
        "RETURNING value",
        {});
    const std::string rev = PQgetvalue(r.get(), 0, 0);
    (void)query("SELECT pg_notify('smacs_bank', $1)", {&rev});
    return rev;
  }
  // One change: its own transaction with a fresh revision, or the bulk transaction's.
  int64_t write(const std::function<int64_t(const std::string& revision)>& change) {
    std::lock_guard lock(mutex_);
    if (!bulk_revision_.empty()) return change(bulk_revision_);
    return run([&] { return transaction("BEGIN", [&] { return change(bump()); }); });
  }
  // `f` between `begin` (BEGIN and its options) and COMMIT; ROLLBACK when it throws.
  template <class F>
  std::invoke_result_t<F&> transaction(const char* begin, F&& f) const {
    (void)query(begin, {});
    try {
      if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
        f();
        (void)query("COMMIT", {});
      } else {
        auto out = f();
        (void)query("COMMIT", {});
        return out;
      }
    } catch (...) {
      PQclear(PQexec(conn_, "ROLLBACK"));
      throw;
    }
  }
  void insert_result(int64_t question, int64_t model, const ResultRow& r, const std::string& rev);
  std::optional<Version> read_version() const {
    Res r = query(
        "SELECT (SELECT value FROM smacs_meta WHERE key = 'bank_id'), "
        "(SELECT value FROM smacs_meta WHERE key = 'revision')",
        {});
    if (PQgetisnull(r.get(), 0, 0) || PQgetisnull(r.get(), 0, 1)) return std::nullopt;
    return Version{PQgetvalue(r.get(), 0, 0), std::stoull(PQgetvalue(r.get(), 0, 1))};
  }
  // COPY ... TO STDOUT, each row's fields (escaped) handed to `row`.
  void copy_out(const std::string& sql,
                const std::function<void(const std::vector<std::string_view>&)>& row) const;
  // Questions (WHERE `filter`), by id.
  void read_questions(const std::string& filter,
                      const std::function<void(int64_t, Record)>& each) const;
  struct Models {
    std::vector<std::string> names;    // by id
    std::map<int64_t, size_t> column;  // id -> position in names
  };
  Models read_models() const;

  std::string url_, where_;
  PGconn* conn_ = nullptr;
  PGconn* listener_ = nullptr;  // LISTEN smacs_bank (wait_for_change)
  mutable std::recursive_mutex mutex_;
  std::string bulk_revision_;  // inside begin/commit: the revision its rows carry
  mutable std::optional<Version> loaded_;
};

}  // namespace smacs
