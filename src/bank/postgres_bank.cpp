#include "bank/postgres_bank.h"

#include <poll.h>

#include <algorithm>
#include <map>

namespace smacs {

namespace {

// What reads of one state run in: the version and the rows as of its first statement.
constexpr const char* kOneState = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

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

std::string copy_unescape(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '\\' || i + 1 == v.size()) {
      out += v[i];
      continue;
    }
    const char c = v[++i];
    auto digit = [&](size_t at, int base) {
      if (at >= v.size()) return -1;
      const char d = static_cast<char>(std::tolower(static_cast<unsigned char>(v[at])));
      const int n = d >= '0' && d <= '9' ? d - '0' : d >= 'a' && d <= 'f' ? d - 'a' + 10 : -1;
      return n < base ? n : -1;
    };
    if (c == 'x' && digit(i + 1, 16) >= 0) {  // \xH or \xHH
      int n = digit(++i, 16);
      if (digit(i + 1, 16) >= 0) n = n * 16 + digit(++i, 16);
      out += static_cast<char>(n);
    } else if (digit(i, 8) >= 0) {  // \N, \NN or \NNN (octal)
      int n = digit(i, 8);
      for (int more = 0; more < 2 && digit(i + 1, 8) >= 0; ++more) n = n * 8 + digit(++i, 8);
      out += static_cast<char>(n);
    } else {
      switch (c) {  // COPY's text format: every escape it writes or reads
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        default: out += c;
      }
    }
  }
  return out;
}

}  // namespace

std::string PostgresBank::first_line(const char* message) {
  std::string s = message ? message : "unknown error";
  if (const size_t nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  return scrub(std::move(s));
}

void PostgresBank::create_schema() const {
  transaction("BEGIN", [&] {
    (void)query("SELECT pg_advisory_xact_lock(7364520187)", {});
    // Made already: no DDL at all (CREATE INDEX IF NOT EXISTS would still lock the tables
    // that running builders write, and deadlock with them).
    Res made = query("SELECT to_regclass('smacs_meta') IS NOT NULL", {});
    if (std::string(PQgetvalue(made.get(), 0, 0)) == "t") return;
    Res r(PQexec(conn_, kSchema));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK)
      throw Error(where_ + ": cannot create the bank (" +
                  first_line(PQresultErrorMessage(r.get())) + ")");
    const std::string id = new_bank_id();
    (void)query("INSERT INTO smacs_meta VALUES ('bank_id', $1) ON CONFLICT DO NOTHING", {&id});
  });
}

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

PostgresBank::Models PostgresBank::read_models() const {
  Models out;
  Res r = query("SELECT id, name FROM smacs_models ORDER BY id", {});
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    out.column[std::stoll(PQgetvalue(r.get(), i, 0))] = out.names.size();
    out.names.emplace_back(PQgetvalue(r.get(), i, 1));
  }
  return out;
}

// Rows of one state: a read-only REPEATABLE READ transaction sees the version and the rows as
// of its first statement.
Dataset PostgresBank::load() const {
  std::lock_guard lock(mutex_);
  return run([&] {
    return transaction(kOneState, [&] {
      loaded_ = read_version();
      Dataset data;
      Models models = read_models();
      const auto& column = models.column;
      data.models = std::move(models.names);
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
  });
}

std::optional<BankChanges> PostgresBank::changes_since(const Version& since) const {
  std::lock_guard lock(mutex_);
  return run([&] {
    return transaction(kOneState, [&]() -> std::optional<BankChanges> {
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
      Models models = read_models();
      const auto& column = models.column;
      out.models = std::move(models.names);
      std::map<int64_t, size_t> row;
      read_questions("WHERE revision > " + rev, [&](int64_t id, Record r) {
        r.scores.assign(out.models.size(), kMissing);
        row[id] = out.questions.size();
        out.questions.push_back(std::move(r));
      });
      Res results = query(
          "SELECT question_id, model_id, score FROM smacs_results WHERE revision > $1::bigint",
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

std::unique_ptr<BankFile> open_postgres_bank(const std::string& url, BankFile::Mode mode) {
  return std::make_unique<PostgresBank>(url, mode);
}

}  // namespace smacs
