#include "server/request_job.h"

#include <optional>

#include "pipeline/aggregate_mode.h"
#include "server/answer_trace.h"
#include "server/budget.h"

namespace smacs {

using nlohmann::json;

namespace {

struct Job {
  JobContext gateway;
  std::shared_ptr<const BankView> view;  // one consistent bank for the whole request
  std::shared_ptr<const ChatRequest> request;
  Deadline deadline;
  AnswerFn done;
  AbandonFlag client_gone;  // set once the client has left: the calls for it stop
  Plan plan{};
  TokenGuess tokens{};  // with a budget only
  AnswerKind task_kind = AnswerKind::kText;
  std::string task_name{};  // the bank task the neighbourhood voted for ("": none)
  std::optional<RoundsInProgress> rounds{};
  // The backends asked, in order, their replies and the chosen one.
  std::vector<int> asked{};
  std::vector<BackendReply> replies{};
  std::optional<size_t> chosen{};  // index into asked/replies
  std::string escalated{};         // the escalation model's name once asked
  // Aggregate mode: the second round, its request bodies and the aggregator's replies.
  std::optional<AggregationInProgress> aggregation{};
  std::vector<json> aggregate_bodies{};
  std::vector<std::string> aggregate_fields{};
  std::vector<BackendReply> aggregate_replies{};
  bool answered = false;

  void answer(Result<GatewayAnswer, ApiError> r) {
    if (!std::exchange(answered, true)) done(std::move(r));
  }
  // The client left: answers (to nobody) with a 499 and returns true, so no call is started.
  bool abandoned() {
    if (!smacs::abandoned(client_gone)) return false;
    answer(failure(ApiError{.status = 499,
                            .type = "invalid_request_error",
                            .message = "the client closed the connection",
                            .code = "client_closed_request"}));
    return true;
  }
  // Runs one continuation: what it throws becomes a 500 answer, not a dead I/O thread.
  template <class Step>
  void guarded(Step&& step) {
    try {
      step();
    } catch (const std::exception& e) {
      answer(failure(ApiError{.status = 500,
                              .type = "server_error",
                              .message = std::string("internal error: ") + e.what(),
                              .code = "internal_error"}));
    }
  }
  std::optional<double> budget_left() const {
    return smacs::budget_left(gateway.pool, request->max_cost_usd, asked, plan, tokens);
  }
  // How the answers compare: tool calls as whitespace-separated tokens, whatever the task.
  AnswerKind kind_of(const std::vector<std::optional<std::string>>& answers) const {
    return has_tool_calls(answers) ? AnswerKind::kCode : task_kind;
  }
};
using JobPtr = std::shared_ptr<Job>;

// step(job) on one of the pool's workers, guarded: what reads replies (embedding, ranking,
// scoring candidates; big ones, or through a configured embedder's HTTP endpoint) must not run
// on the backends' shared I/O thread, which would hold up every request's traffic meanwhile.
template <class Step>
void on_worker(const JobPtr& job, Step step) {
  job->gateway.pool.run_off_io_thread([job, step = std::move(step)]() mutable {
    if (!job->abandoned()) job->guarded([&] { step(job); });  // nothing to do for nobody
  });
}

void next_round(const JobPtr& job);
void take_round(const JobPtr& job, std::vector<BackendReply> replies);
bool aggregate(const JobPtr& job);
void take_candidates(const JobPtr& job, std::vector<BackendReply> replies);
bool escalate(const JobPtr& job);
void finish(Job& job);

// The members asked with the request as it came.
void ask(const JobPtr& job, std::vector<int> members, BackendPool::RepliesFn done) {
  std::vector<const json*> bodies(members.size(), &job->request->body);
  std::vector<std::string_view> fields(members.size(), job->request->upstream_fields);
  job->gateway.pool.fan_out(std::move(members), std::move(bodies), std::move(fields), job->deadline,
                            std::move(done), job->client_gone);
}

// Plan under the view's reader lock (feedback may be appending a row meanwhile), then the
// budget, then the first round.
void start(const JobPtr& job) {
  const BankView& view = *job->view;
  const ChatRequest& request = *job->request;
  const SmacsParams& params = job->gateway.params;
  const SparseVec question = embed_question(view.bank, request.retrieval_key);  // may call out
  std::shared_lock bank_lock(view.mutex);
  job->plan = plan_question(view.bank, question, view.pool, params, request.retrieval_key,
                            job->gateway.pool.eligible());
  job->plan.ranker = &view.ranker;  // fitted on this bank
  if (const int task = job->plan.proxy.task; task >= 0) {
    job->task_kind = view.task_kind[task];
    job->task_name = view.bank.tasks[task];
  }
  bank_lock.unlock();
  if (const std::optional<double>& budget = request.max_cost_usd) {
    job->tokens = guess_tokens(request);
    fit_budget(job->gateway.pool, job->plan, job->tokens, *budget);
    if (job->plan.selection.selected.empty())
      return job->answer(
          failure(ApiError{.status = 400,
                           .type = "invalid_request_error",
                           .message = "smacs.max_cost_usd " + std::to_string(*budget) +
                                      " is below the expected cost of every selected model",
                           .param = "smacs.max_cost_usd",
                           .code = "budget_too_small"}));
  }
  SmacsParams rounds = params;  // aggregate mode: the references answer in one round
  if (params.mode == EpeMode::kAggregate) rounds.adaptive.enabled = false;
  job->rounds.emplace(job->plan, rounds);
  next_round(job);
}

// SMACS's rounds over the plan's selected models, one fan-out per round; then aggregate mode's
// second round, or the escalation model when the posterior stays unsure; then `finish`.
void next_round(const JobPtr& job) {
  const auto batch = job->rounds->next();
  if (!batch) {
    if (const auto& choice = job->rounds->result().choice)
      for (size_t i = 0; i < job->asked.size(); ++i)
        if (job->asked[i] == choice->member) job->chosen = i;
    if (job->abandoned()) return;
    if (job->gateway.params.mode == EpeMode::kAggregate && aggregate(job)) return;
    if (!job->rounds->result().settled && escalate(job)) return;
    return finish(*job);
  }
  if (job->abandoned()) return;
  const auto& selected = job->plan.selection.selected;
  std::vector<int> members(selected.begin() + static_cast<long>(batch->first),
                           selected.begin() + static_cast<long>(batch->second));
  job->asked.insert(job->asked.end(), members.begin(), members.end());
  ask(job, std::move(members), [job](std::vector<BackendReply> replies) {
    on_worker(job, [replies = std::move(replies)](const JobPtr& job) mutable {
      take_round(job, std::move(replies));
    });
  });
}

void take_round(const JobPtr& job, std::vector<BackendReply> replies) {
  std::vector<std::optional<std::string>> texts;
  for (auto& r : replies) {
    texts.push_back(r.ok() ? std::optional<std::string>(candidate_text(*r)) : std::nullopt);
    job->replies.push_back(std::move(r));
  }
  job->rounds->take(std::move(texts), [&](const auto& answers) { return job->kind_of(answers); });
  next_round(job);
}

// Aggregate mode's second round (pipeline/aggregate_mode.h decides what to ask and which
// candidate wins). False when it is skipped: adaptive and settled, no reference answered, the
// aggregator's circuit open, or the budget too small for its calls.
bool aggregate(const JobPtr& job) {
  BackendPool& pool = job->gateway.pool;
  const SmacsParams& params = job->gateway.params;
  const size_t aggregator = static_cast<size_t>(pool.aggregator());
  std::vector<std::optional<std::string>> texts;  // aligned with the selection: asked in order
  for (const auto& r : job->replies)
    texts.push_back(r.ok() ? std::optional<std::string>(candidate_text(*r)) : std::nullopt);
  job->aggregation.emplace(job->plan, job->rounds->result(), std::move(texts), params,
                           job->request->retrieval_key);
  const Aggregation& result = job->aggregation->result();
  if (result.asked() && pool.circuit_open(aggregator))  // a pool model with an open circuit
    job->aggregation->skip(AggregateSkip::kCircuitOpen);
  if (const auto left = job->budget_left(); left && result.asked()) {
    const double each = expected_cost(pool, aggregator, job->plan, job->tokens).value_or(0);
    if (each * static_cast<double>(result.subsets.size()) > *left)
      job->aggregation->skip(AggregateSkip::kBudget);
  }
  if (!result.asked()) {
    if (result.skipped != AggregateSkip::kNoReferences)
      job->gateway.metrics.count_model("aggregate_skipped", pool.name(aggregator));
    return false;
  }
  for (const auto& refs : job->aggregation->call_references()) {
    job->aggregate_bodies.push_back(
        aggregator_request(job->request->body, refs, params.aggregate.temperature));
    job->aggregate_fields.push_back(fields_for_upstream(job->aggregate_bodies.back()));
  }
  std::vector<const json*> bodies;
  for (const json& b : job->aggregate_bodies) bodies.push_back(&b);
  std::vector<int> members(bodies.size(), static_cast<int>(aggregator));
  pool.fan_out(
      std::move(members), std::move(bodies),
      {job->aggregate_fields.begin(), job->aggregate_fields.end()}, job->deadline,
      [job](std::vector<BackendReply> replies) {
        if (!job->abandoned()) job->guarded([&] { take_candidates(job, std::move(replies)); });
      },
      job->client_gone);
  return true;
}

// On the I/O thread of the last reply, so only what is cheap: a reply that is no candidate
// (blank, or over max_candidate_bytes) becomes a failed call and its bytes go at once. Scoring
// reads every candidate: it runs on a worker, never on the I/O thread other requests share.
void take_candidates(const JobPtr& job, std::vector<BackendReply> replies) {
  std::vector<std::optional<AggregateCandidate>> candidates;
  const size_t max_bytes = job->gateway.params.aggregate.max_candidate_bytes;
  for (auto& r : replies) {
    std::optional<AggregateCandidate> c;
    std::string why;
    if (r.ok() && r->content.size() <= max_bytes)  // an oversized one is not even copied
      c = aggregate_candidate(r->body, candidate_text(*r), max_bytes, &why);
    else if (r.ok())
      why = "the reply has " + std::to_string(r->content.size()) +
            " bytes, more than max_candidate_bytes " + std::to_string(max_bytes);
    else if (r.error().kind == FailureKind::kTooLarge)  // a dedicated aggregator's, cut short
      r.error().message = "more than max_candidate_bytes: " + r.error().message;
    if (r.ok() && !c)
      r = failure(BackendError{.status = 200,
                               .message = why,
                               .kind = FailureKind::kMalformed,
                               .latency_ms = r->latency_ms,
                               .attempts = r->attempts});
    candidates.push_back(std::move(c));
  }
  job->aggregate_replies = std::move(replies);
  on_worker(job, [candidates = std::move(candidates)](const JobPtr& job) mutable {
    if (Clock::now() >= job->deadline) {  // no time left to score: the select-mode answer
      for (size_t j = 0; j < candidates.size(); ++j)
        if (candidates[j]) {
          candidates[j].reset();
          job->aggregate_replies[j] = failure(
              BackendError{.message = "request_timeout_ms passed before the candidates were scored",
                           .timed_out = true,
                           .kind = FailureKind::kTimeout});
        }
    }
    job->aggregation->take(std::move(candidates), job->kind_of(job->rounds->result().answers),
                           *job->view->bank.embedder);
    finish(*job);
  });
}

// Asks the escalation model (with a budget: when it fits what the rounds left of it); its
// answer becomes the chosen one. False when it is not asked.
bool escalate(const JobPtr& job) {
  BackendPool& pool = job->gateway.pool;
  const int model = pool.escalation();
  if (model < 0) return false;
  if (const auto left = job->budget_left())
    if (expected_cost(pool, model, job->plan, job->tokens).value_or(0) > *left) return false;
  job->escalated = pool.name(model);
  job->gateway.metrics.count_model("escalated", job->escalated);
  job->asked.push_back(model);
  ask(job, {model}, [job](std::vector<BackendReply> r) {
    on_worker(job, [r = std::move(r)](const JobPtr& job) mutable {  // as a round's replies
      job->replies.push_back(std::move(r.front()));
      if (job->replies.back().ok()) job->chosen = job->asked.size() - 1;
      finish(*job);
    });
  });
  return true;
}

void finish(Job& job) {
  BackendPool& pool = job.gateway.pool;
  Metrics& metrics = job.gateway.metrics;
  const Rounds& rounds = job.rounds->result();
  const bool capped = job.plan.selection.selected.size() < job.plan.k && job.request->max_cost_usd;
  const std::string stop = rounds.settled ? "settled" : capped ? "budget" : "all_asked";
  metrics.count_rounds(rounds.rounds, stop);
  for (int m : job.plan.selection.dropped) metrics.count_model("dropped", pool.name(m));

  GatewayAnswer out;
  account(pool, metrics, job.asked, job.replies, out);
  out.task = job.task_name;
  out.trace.update(decision_trace(pool, job.plan, rounds, out.task));
  out.trace["rounds"] = rounds.rounds;
  out.trace["stopped"] = stop;
  out.trace["escalated_to"] = job.escalated.empty() ? json() : json(job.escalated);
  if (job.aggregation)
    account_aggregate(pool, metrics, job.plan, job.aggregation->result(), job.replies,
                      job.aggregate_replies, out);
  if (!job.chosen) return job.answer(failure(explain_failure(job.replies, out.trace["errors"])));
  const int candidate = job.aggregation ? job.aggregation->result().best : -1;
  BackendReply& chosen = candidate >= 0 ? job.aggregate_replies[static_cast<size_t>(candidate)]
                                        : job.replies[*job.chosen];
  out.chosen = pool.name(candidate >= 0 ? pool.aggregator() : job.asked[*job.chosen]);
  if (candidate >= 0) out.aggregator = out.chosen;
  out.content = chosen->content;
  out.reply = std::move(chosen->body);
  const json& asked_logprobs = job.request->body.value("logprobs", json(false));
  if (candidate >= 0 && !(asked_logprobs.is_boolean() && asked_logprobs.get<bool>()))
    out.reply["choices"][0].erase("logprobs");  // asked for the ppl term, not by the client
  out.trace["chosen"] = out.chosen;
  metrics.count_model("chosen", out.chosen);
  job.answer(std::move(out));
}

}  // namespace

void start_request_job(const JobContext& context, std::shared_ptr<const BankView> view,
                       std::shared_ptr<const ChatRequest> request, Deadline deadline, AnswerFn done,
                       AbandonFlag client_gone) {
  auto job = std::make_shared<Job>(Job{.gateway = context,
                                       .view = std::move(view),
                                       .request = std::move(request),
                                       .deadline = deadline,
                                       .done = std::move(done),
                                       .client_gone = std::move(client_gone)});
  start(job);
}

}  // namespace smacs
