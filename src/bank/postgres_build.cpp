// Many builders of one PostgreSQL bank (offer, claim, release: bank_store.h) and the
// whole-bank import by COPY.
#include <unistd.h>

#include <algorithm>
#include <unordered_map>

#include "bank/postgres_bank.h"

namespace smacs {

namespace {

// COPY's text format: backslash, tab, newline and carriage return escaped (other bytes go as
// they are; copy_unescape reads back every escape COPY writes); \N is NULL.
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

}  // namespace

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
  transaction("BEGIN", [&] {
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
              check_text(r);
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
  });
  // Fresh statistics: without them the first "rows newer than r" of a replica scans every row.
  (void)query("ANALYZE smacs_questions, smacs_results, smacs_models", {});
}

}  // namespace smacs
