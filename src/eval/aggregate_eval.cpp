#include "eval/aggregate_eval.h"

#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>

#include "api/openai_api.h"
#include "core/error.h"
#include "eval/aggregate_cache.h"
#include "generation/backend.h"
#include "grading/grader.h"
#include "pipeline/aggregate_mode.h"

namespace smacs {

namespace {

using nlohmann::json;

// One test row in aggregate mode: its references' round and the calls it needs.
struct AggregateRow {
  size_t row = 0;
  Plan plan{};
  Rounds rounds{};  // the references: extracted answers (what settles) in selection order
  std::optional<AggregationInProgress> aggregation{};
  std::vector<AggregateKey> keys{};                             // per call
  std::vector<std::optional<AggregateCandidate>> candidates{};  // per call
};

SmacsParams aggregate_params(const SmacsParams& params, const AggregateEvalOptions& o) {
  SmacsParams p = params;
  p.mode = EpeMode::kAggregate;
  p.aggregate = o.params;
  p.k = o.references;
  for (auto& [task, t] : p.per_task) t.k = o.references;  // their alpha still rules select mode
  p.adaptive.enabled = false;  // every row's subsets are drawn; adaptive is scored from them
  return p;
}

// The references' round from the recorded replies, and the calls the aggregator would get.
AggregateRow plan_row(const EvalInput& in, size_t row, const SmacsParams& p,
                      const std::string& aggregator, const std::string& settings) {
  const Record& r = in.test->records[row];
  AggregateRow out{
      .row = row,
      .plan = plan_from_neighbors(*in.bank, in.neighbors[row], in.pool_bank, p, r.question)};
  const AnswerKind kind = in.kinds.at(r.task);
  std::vector<std::optional<std::string>> texts;
  out.rounds = run_rounds(
      out.plan, p,
      [&](size_t from, size_t to) {
        std::vector<std::optional<std::string>> answers;
        for (size_t i = from; i < to; ++i) {
          const int m = out.plan.selection.selected[i];
          const int col = in.pool_test[static_cast<size_t>(m)];
          const bool failed = is_missing(r.scores[col]);  // no recorded result: a failed call
          answers.push_back(failed ? std::nullopt : std::optional(in.answers[row][m]));
          texts.push_back(failed ? std::nullopt : std::optional(r.responses[col]));
        }
        return answers;
      },
      [kind](const auto&) { return kind; });
  out.aggregation.emplace(out.plan, out.rounds, std::move(texts), p, r.question);
  std::map<std::vector<std::string>, size_t> seen;  // an ordered subset drawn again: a new sample
  for (const auto& subset : out.aggregation->result().subsets) {
    AggregateKey key{.aggregator = aggregator, .question = r.question, .settings = settings};
    for (size_t s : subset) key.subset.push_back(in.pool_names[out.plan.selection.selected[s]]);
    key.sample = seen[key.subset]++;
    out.keys.push_back(std::move(key));
  }
  out.candidates.resize(out.keys.size());
  return out;
}

// Asks the aggregator every call the cache lacks, `concurrency` at a time; stores each reply
// as it comes, so an interrupted run keeps what it got.
AggregatorCalls ask_missing(std::vector<AggregateRow>& rows, const AggregatorEndpoint& e,
                            const AggregateParams& params, AggregateCache& cache,
                            const Progress& progress) {
  AggregatorCalls calls;
  struct Call {
    AggregateRow* row;
    size_t j;
  };
  std::vector<Call> missing;
  for (auto& row : rows)
    for (size_t j = 0; j < row.keys.size(); ++j)
      if (auto hit = cache.find(row.keys[j])) {
        row.candidates[j] = std::move(*hit);
        ++calls.cached;
      } else {
        missing.push_back({&row, j});
      }
  if (missing.empty()) return calls;
  auto backend = make_http_backend({.name = "aggregator",
                                    .base_url = e.url,
                                    .model = e.model,
                                    .api_key = e.api_key,
                                    .max_concurrency = e.concurrency,
                                    .timeout_ms = e.timeout_ms,
                                    .retries = e.retries});
  std::mutex mutex;
  std::condition_variable changed;
  size_t in_flight = 0, done = 0;
  std::string store_error;
  for (const Call& call : missing) {
    const auto refs = call.row->aggregation->references_of(call.j);
    json request = {
        {"model", e.model},
        {"messages",
         json::array({{{"role", "user"}, {"content", call.row->keys[call.j].question}}})}};
    if (e.max_tokens) request["max_tokens"] = *e.max_tokens;
    request = aggregator_request(request, refs, params.temperature);
    const std::string fields = fields_for_upstream(request);
    {
      std::unique_lock lock(mutex);
      changed.wait(lock, [&] { return in_flight < e.concurrency; });
      ++in_flight;
    }
    const Deadline deadline =
        Clock::now() + std::chrono::milliseconds((e.timeout_ms + 1000) * (e.retries + 1));
    backend->complete_async(
        request, fields, deadline,
        [&, call](BackendReply reply) {
          std::optional<AggregateCandidate> got;
          if (reply.ok()) got = aggregate_candidate(reply->body, reply->content);
          std::lock_guard lock(mutex);
          if (got) {
            try {
              cache.put(call.row->keys[call.j], *got);
            } catch (const Error& err) {
              store_error = err.what();
            }
            call.row->candidates[call.j] = std::move(got);
            ++calls.made;
          } else {
            ++calls.failed;
          }
          --in_flight;
          ++done;
          if (progress) progress(done, missing.size());
          changed.notify_all();
        },
        nullptr);
  }
  std::unique_lock lock(mutex);
  changed.wait(lock, [&] { return in_flight == 0; });
  if (!store_error.empty()) throw Error(store_error);
  return calls;
}

// Per task: the scores and calls of both methods, and the settled questions.
struct AggregateTally {
  RunningMean fixed, adaptive, fixed_calls, adaptive_calls;
  size_t settled = 0, rows = 0;
};

void score_row(const EvalInput& in, AggregateRow& row, const Embedder& embedder, bool live,
               AggregateTally& t) {
  const Record& r = in.test->records[row.row];
  const AnswerKind kind = in.kinds.at(r.task);
  const auto& choice = row.rounds.choice;  // the select-mode answer of the references
  const double select_score =
      choice ? std::max(0.0f, r.scores[in.pool_test[static_cast<size_t>(choice->member)]]) : 0.0;
  const double k = static_cast<double>(row.rounds.asked());
  const double n = static_cast<double>(row.keys.size());
  ++t.rows;
  t.settled += row.rounds.settled;
  t.fixed_calls.add(k + n);
  t.adaptive_calls.add(k + (row.rounds.settled ? 0 : n));
  if (!live) return;
  row.aggregation->take(row.candidates, kind, embedder);
  const int best = row.aggregation->result().best;
  const double aggregate_score =
      best < 0 ? select_score  // every call failed: the select-mode answer stands
               : grade_response(r, kind, row.candidates[static_cast<size_t>(best)]->text);
  t.fixed.add(aggregate_score);
  t.adaptive.add(row.rounds.settled ? select_score : aggregate_score);
}

}  // namespace

AggregatorCalls add_aggregate_mode(const EvalInput& in, const SmacsParams& params,
                                   const AggregateEvalOptions& options, EvalReport& report,
                                   const Progress& progress) {
  if (!in.test->has_responses())
    throw Error("aggregate mode needs the references' texts: the test data has no responses");
  const SmacsParams p = aggregate_params(params, options);
  const auto& live = options.live;
  json settings = {{"temperature", options.params.temperature}};
  if (live && live->max_tokens) settings["max_tokens"] = *live->max_tokens;
  std::vector<AggregateRow> rows;
  for (size_t i = 0; i < in.test->records.size(); ++i) {
    if (has_pool_result(in, in.test->records[i]))
      rows.push_back(plan_row(in, i, p, live ? live->model : "", settings.dump()));
  }
  AggregatorCalls calls;
  if (live) {
    AggregateCache cache(live->cache_path);
    calls = ask_missing(rows, *live, options.params, cache, progress);
  }
  std::map<std::string, AggregateTally> tallies;
  for (auto& row : rows)
    score_row(in, row, *in.bank->embedder, live.has_value(),
              tallies[in.test->records[row.row].task]);
  for (auto& task : report.tasks) {
    const auto it = tallies.find(task.task);
    if (it == tallies.end()) continue;
    const AggregateTally& t = it->second;
    task.references_settled = 100.0 * static_cast<double>(t.settled) / static_cast<double>(t.rows);
    for (const auto& [name, mean, calls_mean] :
         {std::tuple{"smacs_aggregate", &t.fixed, &t.fixed_calls},
          std::tuple{"smacs_aggregate_adaptive", &t.adaptive, &t.adaptive_calls}}) {
      task.calls[name] = calls_mean->value();
      if (!in.cost_in_usd) task.cost[name] = calls_mean->value();
      if (live) task.accuracy[name] = 100.0 * mean->value();
    }
  }
  set_averages(report);
  report.aggregate = AggregateSetup{.references = options.references,
                                    .params = options.params,
                                    .aggregator = live ? live->model : ""};
  return calls;
}

}  // namespace smacs
