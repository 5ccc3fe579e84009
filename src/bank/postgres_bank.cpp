// The PostgreSQL engine of BankFile (libpq): one bank of record for many gateways and builders.
// Every write is one transaction that bumps the bank's revision (a row lock, so writes commit
// in revision order), stamps the rows it writes with that revision and NOTIFYs smacs_bank:
// a replica follows by LISTEN plus a revision poll, reading only rows newer than its own.
#include <libpq-fe.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <type_traits>
#include <unordered_map>

#include "bank/engines.h"
#include "core/error.h"

namespace smacs {

namespace {

constexpr const char* kFormat = "smacs-pg-1";
constexpr const char* kChannel = "smacs_bank";

// Created on first use, under an advisory lock so that builders starting together agree.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS smacs_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS smacs_models(id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE,
  revision BIGINT NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS smacs_questions(id BIGSERIAL PRIMARY KEY, ext_id TEXT NOT NULL UNIQUE,
  task TEXT NOT NULL, question TEXT NOT NULL, gold TEXT NOT NULL DEFAULT '',
  tests TEXT NOT NULL DEFAULT '', grader TEXT NOT NULL DEFAULT '',
  revision BIGINT NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS smacs_results(
  question_id BIGINT NOT NULL REFERENCES smacs_questions(id) ON DELETE CASCADE,
  model_id BIGINT NOT NULL REFERENCES smacs_models(id) ON DELETE CASCADE,
  score REAL, response TEXT, cost REAL, latency_ms DOUBLE PRECISION, prompt_tokens BIGINT,
  completion_tokens BIGINT, revision BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY(question_id, model_id));
CREATE INDEX IF NOT EXISTS smacs_results_revision ON smacs_results(revision);
CREATE INDEX IF NOT EXISTS smacs_questions_revision ON smacs_questions(revision);
CREATE TABLE IF NOT EXISTS smacs_claims(question_id BIGINT NOT NULL, model_id BIGINT NOT NULL,
  worker TEXT, lease_until TIMESTAMPTZ, done BOOLEAN NOT NULL DEFAULT false,
  PRIMARY KEY(question_id, model_id));
INSERT INTO smacs_meta VALUES ('format', 'smacs-pg-1'), ('revision', '0'), ('rebuild_at', '0')
  ON CONFLICT DO NOTHING;
)sql";

// The URL without its password, for messages and the snapshot's name.
std::string redact(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t at = url.find('@', scheme);
  const size_t colon = url.find(':', scheme + 3);
  if (scheme == std::string::npos || at == std::string::npos || colon == std::string::npos ||
      colon > at)
    return url;
  return url.substr(0, colon) + url.substr(at);
}

std::string first_line(const char* message) {
  std::string s = message ? message : "unknown error";
  if (const size_t nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  return s;
}

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Res = std::unique_ptr<PGresult, ResultDeleter>;

// COPY's text format: backslash, tab, newline and carriage return escaped; \N is NULL.
void copy_field(std::string& out, const std::string* v) {
  if (!v) {
    out += "\\N";
    return;
  }
  for (char c : *v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else
      out += c;
  }
}

std::string copy_unescape(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '\\' || i + 1 == v.size()) {
      out += v[i];
      continue;
    }
    const char c = v[++i];
    out += c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c;
  }
  return out;
}

// An array literal of ids for a bigint[] parameter: "{1,2,3}".
template <class It, class Id>
std::string pg_array(It begin, It end, Id id) {
  std::string out = "{";
  for (It it = begin; it != end; ++it) {
    if (it != begin) out += ',';
    out += std::to_string(id(*it));
  }
  return out + "}";
}

// `data` with rows of one id merged into the first (later results win where they say
// something), as a bank keeps them; nullopt when no id repeats (the common case: no copy).
std::optional<Dataset> merged_by_id(const Dataset& data) {
  std::unordered_map<std::string_view, size_t> first;
  bool repeats = false;
  for (size_t i = 0; i < data.records.size() && !repeats; ++i)
    repeats = !first.emplace(data.records[i].id, i).second;
  if (!repeats) return std::nullopt;
  Dataset out{data.models, {}};
  std::unordered_map<std::string, size_t> row;
  for (const Record& r : data.records) {
    const auto [it, fresh] = row.emplace(r.id, out.records.size());
    if (fresh) {
      out.records.push_back(r);
      continue;
    }
    Record& into = out.records[it->second];
    for (size_t m = 0; m < data.models.size(); ++m) {
      if (!is_missing(r.scores[m])) into.scores[m] = r.scores[m];
      if (!r.responses.empty() && !r.responses[m].empty()) {
        into.responses.resize(data.models.size());
        into.responses[m] = r.responses[m];
      }
      if (!r.costs.empty() && !is_missing(r.costs[m])) {
        into.costs.resize(data.models.size(), kMissing);
        into.costs[m] = r.costs[m];
      }
    }
  }
  return out;
}

class PostgresBank final : public BankFile {
 public:
  PostgresBank(std::string url, Mode mode) : url_(std::move(url)), where_(redact(url_)) {
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

  int64_t add_question(const Record& r) override {
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
  void create_schema() const {
    (void)query("BEGIN", {});
    try {
      (void)query("SELECT pg_advisory_xact_lock(7364520187)", {});
      // Made already: no DDL at all (CREATE INDEX IF NOT EXISTS would still lock the tables
      // that running builders write, and deadlock with them).
      Res made = query("SELECT to_regclass('smacs_meta') IS NOT NULL", {});
      if (std::string(PQgetvalue(made.get(), 0, 0)) == "t") {
        (void)query("COMMIT", {});
        return;
      }
      Res r(PQexec(conn_, kSchema));
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK)
        throw Error(where_ + ": cannot create the bank (" +
                    first_line(PQresultErrorMessage(r.get())) + ")");
      const std::string id = new_bank_id();
      (void)query("INSERT INTO smacs_meta VALUES ('bank_id', $1) ON CONFLICT DO NOTHING", {&id});
      (void)query("COMMIT", {});
    } catch (...) {
      PQclear(PQexec(conn_, "ROLLBACK"));
      throw;
    }
  }
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
    return run([&] {
      (void)query("BEGIN", {});
      try {
        const int64_t out = change(bump());
        (void)query("COMMIT", {});
        return out;
      } catch (...) {
        PQclear(PQexec(conn_, "ROLLBACK"));
        throw;
      }
    });
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
  std::vector<std::pair<int64_t, std::string>> read_models() const;

  std::string url_, where_;
  PGconn* conn_ = nullptr;
  PGconn* listener_ = nullptr;  // LISTEN smacs_bank (wait_for_change)
  mutable std::recursive_mutex mutex_;
  std::string bulk_revision_;  // inside begin/commit: the revision its rows carry
  mutable std::optional<Version> loaded_;
};

void PostgresBank::insert_result(int64_t question, int64_t model, const ResultRow& r,
                                 const std::string& rev) {
  const std::string q = std::to_string(question), m = std::to_string(model);
  auto num = [](const auto& v) { return v ? std::optional(std::to_string(*v)) : std::nullopt; };
  const auto score = num(r.score), cost = num(r.cost), latency = num(r.latency_ms),
             prompt = num(r.prompt_tokens), completion = num(r.completion_tokens);
  auto ptr = [](const std::optional<std::string>& v) { return v ? &*v : nullptr; };
  // A value recorded again replaces the old one; a missing (NULL) one never erases it.
  (void)query(
      "INSERT INTO smacs_results VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9) "
      "ON CONFLICT(question_id, model_id) DO UPDATE SET "
      "score = COALESCE(excluded.score, smacs_results.score), "
      "response = COALESCE(excluded.response, smacs_results.response), "
      "cost = COALESCE(excluded.cost, smacs_results.cost), "
      "latency_ms = COALESCE(excluded.latency_ms, smacs_results.latency_ms), "
      "prompt_tokens = COALESCE(excluded.prompt_tokens, smacs_results.prompt_tokens), "
      "completion_tokens = COALESCE(excluded.completion_tokens, smacs_results.completion_tokens), "
      "revision = excluded.revision",
      {&q, &m, ptr(score), r.response.empty() ? nullptr : &r.response, ptr(cost), ptr(latency),
       ptr(prompt), ptr(completion), &rev});
  // A builder's claim on this pair is done (bank/bank_store.h: offer and claim).
  (void)query("UPDATE smacs_claims SET done = true WHERE question_id = $1 AND model_id = $2",
              {&q, &m});
}

void PostgresBank::copy_out(
    const std::string& sql,
    const std::function<void(const std::vector<std::string_view>&)>& row) const {
  Res start(PQexec(conn_, sql.c_str()));
  if (PQresultStatus(start.get()) != PGRES_COPY_OUT)
    throw Error(where_ + ": " + first_line(PQresultErrorMessage(start.get())));
  std::vector<std::string_view> fields;
  for (;;) {
    char* buf = nullptr;
    const int n = PQgetCopyData(conn_, &buf, 0);
    if (n < 0) break;
    std::string_view line(buf, static_cast<size_t>(n));
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    fields.clear();
    for (size_t at = 0;;) {
      const size_t tab = line.find('\t', at);
      fields.push_back(line.substr(at, tab == std::string_view::npos ? tab : tab - at));
      if (tab == std::string_view::npos) break;
      at = tab + 1;
    }
    try {
      row(fields);
    } catch (...) {
      PQfreemem(buf);
      while (PQgetCopyData(conn_, &buf, 0) >= 0) PQfreemem(buf);
      PQclear(PQgetResult(conn_));
      throw;
    }
    PQfreemem(buf);
  }
  Res end(PQgetResult(conn_));
  if (PQresultStatus(end.get()) != PGRES_COMMAND_OK)
    throw Error(where_ + ": " + first_line(PQresultErrorMessage(end.get())));
  while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
}

void PostgresBank::read_questions(const std::string& filter,
                                  const std::function<void(int64_t, Record)>& each) const {
  copy_out("COPY (SELECT id, ext_id, task, question, gold, tests, grader FROM smacs_questions " +
               filter + " ORDER BY id) TO STDOUT",
           [&](const std::vector<std::string_view>& f) {
             Record r;
             r.id = copy_unescape(f[1]);
             r.task = copy_unescape(f[2]);
             r.question = copy_unescape(f[3]);
             r.gold = copy_unescape(f[4]);
             r.tests = copy_unescape(f[5]);
             r.grader = copy_unescape(f[6]);
             each(std::stoll(std::string(f[0])), std::move(r));
           });
}

std::vector<std::pair<int64_t, std::string>> PostgresBank::read_models() const {
  std::vector<std::pair<int64_t, std::string>> out;
  Res r = query("SELECT id, name FROM smacs_models ORDER BY id", {});
  for (int i = 0; i < PQntuples(r.get()); ++i)
    out.emplace_back(std::stoll(PQgetvalue(r.get(), i, 0)), PQgetvalue(r.get(), i, 1));
  return out;
}

// Rows of one state: a read-only REPEATABLE READ transaction sees the version and the rows as
// of its first statement.
Dataset PostgresBank::load() const {
  std::lock_guard lock(mutex_);
  return run([&] {
    (void)query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", {});
    struct End {
      PGconn* c;
      ~End() { PQclear(PQexec(c, "COMMIT")); }
    } end{conn_};
    loaded_ = read_version();
    Dataset data;
    std::map<int64_t, size_t> column;
    for (auto& [id, name] : read_models()) {
      column[id] = data.models.size();
      data.models.push_back(std::move(name));
    }
    std::vector<int64_t> ids;
    read_questions("", [&](int64_t id, Record r) {
      r.scores.assign(data.models.size(), kMissing);
      ids.push_back(id);
      data.records.push_back(std::move(r));
    });
    copy_out(
        "COPY (SELECT question_id, model_id, score, cost, response FROM smacs_results) TO STDOUT",
        [&](const std::vector<std::string_view>& f) {
          const int64_t q = std::stoll(std::string(f[0]));
          const auto row = std::lower_bound(ids.begin(), ids.end(), q);
          const auto col = column.find(std::stoll(std::string(f[1])));
          if (row == ids.end() || *row != q || col == column.end())
            throw Error(where_ + ": corrupt bank (result for an unknown question or model)");
          Record& r = data.records[static_cast<size_t>(row - ids.begin())];
          if (f[2] != "\\N") r.scores[col->second] = std::stof(std::string(f[2]));
          if (f[3] != "\\N") {
            r.costs.resize(data.models.size(), kMissing);
            r.costs[col->second] = std::stof(std::string(f[3]));
          }
          if (f[4] != "\\N") {
            r.responses.resize(data.models.size());
            r.responses[col->second] = copy_unescape(f[4]);
          }
        });
    return data;
  });
}

std::optional<BankChanges> PostgresBank::changes_since(const Version& since) const {
  std::lock_guard lock(mutex_);
  return run([&]() -> std::optional<BankChanges> {
    (void)query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", {});
    struct End {
      PGconn* c;
      ~End() { PQclear(PQexec(c, "COMMIT")); }
    } end{conn_};
    BankChanges out;
    const auto now = read_version();
    if (!now) return std::nullopt;
    out.revision = now->revision;
    if (now->bank_id != since.bank_id) {
      out.rebuild = true;  // another bank at this location now
      return out;
    }
    if (now->revision <= since.revision) return out;
    const std::string rev = std::to_string(since.revision);
    Res rebuild_at = query(
        "SELECT value::bigint > $1::bigint FROM smacs_meta WHERE key = "
        "'rebuild_at'",
        {&rev});
    if (std::string(PQgetvalue(rebuild_at.get(), 0, 0)) == "t") {
      out.rebuild = true;
      return out;
    }
    std::map<int64_t, size_t> column;
    for (auto& [id, name] : read_models()) {
      column[id] = out.models.size();
      out.models.push_back(std::move(name));
    }
    std::map<int64_t, size_t> row;
    read_questions("WHERE revision > " + rev, [&](int64_t id, Record r) {
      r.scores.assign(out.models.size(), kMissing);
      row[id] = out.questions.size();
      out.questions.push_back(std::move(r));
    });
    Res results =
        query("SELECT question_id, model_id, score FROM smacs_results WHERE revision > $1::bigint",
              {&rev});
    for (int i = 0; i < PQntuples(results.get()); ++i) {
      const auto r = row.find(std::stoll(PQgetvalue(results.get(), i, 0)));
      const auto c = column.find(std::stoll(PQgetvalue(results.get(), i, 1)));
      if (r == row.end() || c == column.end()) {  // a result of an older question
        out.rebuild = true;
        return out;
      }
      if (!PQgetisnull(results.get(), i, 2))
        out.questions[r->second].scores[c->second] = std::stof(PQgetvalue(results.get(), i, 2));
    }
    return out;
  });
}

bool PostgresBank::wait_for_change(int timeout_ms) {
  if (!listener_ || PQstatus(listener_) != CONNECTION_OK) {
    if (listener_) PQfinish(listener_);
    listener_ = nullptr;
    try {
      listener_ = connect();
    } catch (const Error&) {
      return BankFile::wait_for_change(timeout_ms);  // down: the poll that follows says so
    }
    PQclear(PQexec(listener_, (std::string("LISTEN ") + kChannel).c_str()));
  }
  pollfd fd{.fd = PQsocket(listener_), .events = POLLIN, .revents = 0};
  const int ready = ::poll(&fd, 1, timeout_ms);
  if (ready <= 0) return false;
  if (!PQconsumeInput(listener_)) return false;  // broken: reconnect next time
  bool notified = false;
  while (PGnotify* n = PQnotifies(listener_)) {
    notified = true;
    PQfreemem(n);
  }
  return notified;
}

void PostgresBank::offer(const std::vector<std::pair<int64_t, int64_t>>& pairs) {
  std::lock_guard lock(mutex_);
  for (size_t at = 0; at < pairs.size(); at += 10000) {  // arrays of a bounded size
    const auto from = pairs.begin() + static_cast<long>(at);
    const auto to = pairs.begin() + static_cast<long>(std::min(pairs.size(), at + 10000));
    const std::string qs = pg_array(from, to, [](const auto& p) { return p.first; });
    const std::string ms = pg_array(from, to, [](const auto& p) { return p.second; });
    run([&] {
      return query(
          "INSERT INTO smacs_claims(question_id, model_id) "
          "SELECT * FROM unnest($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING",
          {&qs, &ms});
    });
  }
}

std::vector<std::pair<int64_t, int64_t>> PostgresBank::claim(const std::vector<int64_t>& models,
                                                             size_t n, int lease_ms) {
  std::lock_guard lock(mutex_);
  const std::string ids = pg_array(models.begin(), models.end(), [](int64_t m) { return m; });
  const std::string limit = std::to_string(n), lease = std::to_string(lease_ms),
                    worker = std::to_string(::getpid());
  Res r = run([&] {
    return query(
        "UPDATE smacs_claims c SET worker = $3, "
        "  lease_until = now() + ($4 || ' milliseconds')::interval "
        "FROM (SELECT question_id, model_id FROM smacs_claims "
        "      WHERE model_id = ANY($1::bigint[]) AND NOT done "
        "        AND (lease_until IS NULL OR lease_until < now()) "
        "      ORDER BY question_id, model_id LIMIT $2 FOR UPDATE SKIP LOCKED) p "
        "WHERE c.question_id = p.question_id AND c.model_id = p.model_id "
        "RETURNING c.question_id, c.model_id",
        {&ids, &limit, &worker, &lease});
  });
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int i = 0; i < PQntuples(r.get()); ++i)
    out.emplace_back(std::stoll(PQgetvalue(r.get(), i, 0)), std::stoll(PQgetvalue(r.get(), i, 1)));
  return out;
}

void PostgresBank::release(std::pair<int64_t, int64_t> pair) {
  std::lock_guard lock(mutex_);
  const std::string q = std::to_string(pair.first), m = std::to_string(pair.second);
  run([&] {
    return query(
        "UPDATE smacs_claims SET lease_until = NULL, worker = NULL "
        "WHERE question_id = $1 AND model_id = $2 AND NOT done",
        {&q, &m});
  });
}

std::vector<std::pair<int64_t, int64_t>> PostgresBank::unfinished(
    const std::vector<int64_t>& models) const {
  std::lock_guard lock(mutex_);
  const std::string ids = pg_array(models.begin(), models.end(), [](int64_t m) { return m; });
  Res r = run([&] {
    return query(
        "SELECT question_id, model_id FROM smacs_claims WHERE NOT done "
        "AND model_id = ANY($1::bigint[])",
        {&ids});
  });
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int i = 0; i < PQntuples(r.get()); ++i)
    out.emplace_back(std::stoll(PQgetvalue(r.get(), i, 0)), std::stoll(PQgetvalue(r.get(), i, 1)));
  return out;
}

// COPY in one transaction: the old rows go, the new ones come, under a new bank id.
void PostgresBank::replace_with(const Dataset& given) {
  const std::optional<Dataset> merged = merged_by_id(given);
  const Dataset& data = merged ? *merged : given;
  std::lock_guard lock(mutex_);
  ensure_connected();
  (void)query("BEGIN", {});
  try {
    const std::string rev = bump();
    (void)query("TRUNCATE smacs_results, smacs_questions, smacs_models, smacs_claims", {});
    const std::string id = new_bank_id();
    (void)query("UPDATE smacs_meta SET value = $1 WHERE key = 'bank_id'", {&id});
    (void)query("UPDATE smacs_meta SET value = $1 WHERE key = 'rebuild_at'", {&rev});
    auto copy_in = [&](const char* sql, const std::function<void(std::string&)>& fill) {
      Res start(PQexec(conn_, sql));
      if (PQresultStatus(start.get()) != PGRES_COPY_IN)
        throw Error(where_ + ": " + first_line(PQresultErrorMessage(start.get())));
      std::string buf;
      fill(buf);
      if (PQputCopyData(conn_, buf.data(), static_cast<int>(buf.size())) != 1 ||
          PQputCopyEnd(conn_, nullptr) != 1)
        throw Error(where_ + ": " + first_line(PQerrorMessage(conn_)));
      Res end(PQgetResult(conn_));
      if (PQresultStatus(end.get()) != PGRES_COMMAND_OK)
        throw Error(where_ + ": " + first_line(PQresultErrorMessage(end.get())));
    };
    const std::string tab = "\t", nl = "\n";
    copy_in("COPY smacs_models(id, name, revision) FROM STDIN", [&](std::string& b) {
      for (size_t m = 0; m < data.models.size(); ++m) {
        b += std::to_string(m + 1) + tab;
        copy_field(b, &data.models[m]);
        b += tab + rev + nl;
      }
    });
    // Rows go in chunks, so a million questions never sit in one buffer.
    for (size_t at = 0; at < data.records.size() || at == 0; at += 50000) {
      const size_t to = std::min(data.records.size(), at + 50000);
      copy_in(
          "COPY smacs_questions(id, ext_id, task, question, gold, tests, grader, revision) "
          "FROM STDIN",
          [&](std::string& b) {
            for (size_t i = at; i < to; ++i) {
              const Record& r = data.records[i];
              b += std::to_string(i + 1);
              for (const std::string* f :
                   {&r.id, &r.task, &r.question, &r.gold, &r.tests, &r.grader}) {
                b += tab;
                copy_field(b, f);
              }
              b += tab + rev + nl;
            }
          });
      copy_in(
          "COPY smacs_results(question_id, model_id, score, response, cost, revision) "
          "FROM STDIN",
          [&](std::string& b) {
            for (size_t i = at; i < to; ++i) {
              const Record& r = data.records[i];
              for (size_t m = 0; m < data.models.size(); ++m) {
                const bool response = !r.responses.empty() && !r.responses[m].empty();
                if (is_missing(r.scores[m]) && !response) continue;
                b += std::to_string(i + 1) + tab + std::to_string(m + 1) + tab;
                b += is_missing(r.scores[m]) ? "\\N" : std::to_string(r.scores[m]);
                b += tab;
                copy_field(b, response ? &r.responses[m] : nullptr);
                b += tab;
                b += !r.costs.empty() && !is_missing(r.costs[m]) ? std::to_string(r.costs[m])
                                                                 : "\\N";
                b += tab + rev + nl;
              }
            }
          });
      if (data.records.empty()) break;
    }
    // The id sequences go on after the copied ids.
    (void)query(
        "SELECT setval('smacs_models_id_seq', GREATEST(1, (SELECT MAX(id) FROM smacs_models)))",
        {});
    (void)query(
        "SELECT setval('smacs_questions_id_seq', GREATEST(1, (SELECT MAX(id) FROM "
        "smacs_questions)))",
        {});
    (void)query("COMMIT", {});
  } catch (...) {
    PQclear(PQexec(conn_, "ROLLBACK"));
    throw;
  }
  // Fresh statistics: without them the first "rows newer than r" of a replica scans every row.
  (void)query("ANALYZE smacs_questions, smacs_results, smacs_models", {});
}

}  // namespace

std::unique_ptr<BankFile> open_postgres_bank(const std::string& url, BankFile::Mode mode) {
  return std::make_unique<PostgresBank>(url, mode);
}

}  // namespace smacs
