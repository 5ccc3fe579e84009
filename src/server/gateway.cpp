#include "server/gateway.h"

#include <algorithm>
#include <mutex>

#include "bank/bank_store.h"
#include "core/error.h"
#include "posterior/ranker_training.h"
#include "server/gateway_job.h"

namespace smacs {

using nlohmann::json;

namespace {

std::vector<std::string> names_of(const std::vector<std::unique_ptr<Backend>>& backends) {
  std::vector<std::string> names;
  for (const auto& b : backends) names.push_back(b->name());
  return names;
}

}  // namespace

Gateway::Gateway(PriorBank bank, SmacsParams params, std::vector<std::unique_ptr<Backend>> backends,
                 Metrics& metrics, GatewayOptions options)
    : params_(params),
      backends_(std::move(backends)),
      prices_(std::move(options.prices)),
      metrics_(metrics),
      fanout_(options.fanout_threads),
      health_(backends_.size()),
      views_(std::move(bank), names_of(backends_)),
      answers_(options.remember_bytes, options.feedback_per_second, metrics) {
  prices_.resize(backends_.size());
  unrouted_.assign(backends_.size(), false);
  for (size_t j = 0; j < backends_.size(); ++j) {
    const std::string& name = backends_[j]->name();
    if (name == options.escalate_to) escalate_ = static_cast<int>(j);
    if (name == options.aggregator) aggregator_ = static_cast<int>(j);
    // The aggregator, a pool model or not, is never asked as a reference: its aggregated
    // answers would otherwise come back into the bank as its own results.
    unrouted_[j] = name == options.escalate_to ||
                   (params_.mode == EpeMode::kAggregate && name == options.aggregator) ||
                   std::count(options.unrouted.begin(), options.unrouted.end(), name) > 0;
  }
  if (!options.escalate_to.empty() && escalate_ < 0)
    throw Error("escalate_to '" + options.escalate_to + "' is not a pool model");
  if (params_.mode == EpeMode::kAggregate && aggregator_ < 0)
    throw Error("mode aggregate: aggregator '" + options.aggregator + "' is not a backend");
  if (!options.bank_file.empty())
    bank_file_ = BankFile::open(options.bank_file, BankFile::Mode::kWrite);
  else if (!options.feedback_journal.empty())
    bank_file_ = BankFile::open(options.feedback_journal, BankFile::Mode::kCreate);
}

Gateway::~Gateway() = default;

std::shared_ptr<const BankView> Gateway::view() const { return views_.current(); }

void Gateway::reload(PriorBank bank) { views_.reload(std::move(bank)); }

void Gateway::reload(const std::function<PriorBank()>& load) { views_.reload(load); }

size_t Gateway::bank_questions() const {
  const auto v = view();
  std::shared_lock lock(v->mutex);
  return v->bank.size();
}

std::vector<std::string> Gateway::cold_models() const {
  const auto v = view();
  std::shared_lock lock(v->mutex);
  std::vector<std::string> out;
  for (size_t j = 0; j < backends_.size(); ++j)
    if (v->pool[j] < 0 && !unrouted_[j]) out.push_back(backends_[j]->name());
  return out;
}

int Gateway::backend_index(const std::string& name) const {
  for (size_t j = 0; j < backends_.size(); ++j)
    if (backends_[j]->name() == name) return static_cast<int>(j);
  return -1;
}

void Gateway::record_health(size_t j, const BackendReply& reply) {
  if (!reply.ok()) metrics_.count_backend_error(backends_[j]->name(), reply.error().kind);
  if (!reply.ok() && reply.error().kind == FailureKind::kCircuitOpen) return;  // not asked
  if (health_.record(j, reply.ok() || reply.error().refused()))
    metrics_.count_model("circuit_opened", backends_[j]->name());
}

void Gateway::call_backend(size_t j, const json& body, std::string_view fields, Deadline deadline,
                           std::function<void(BackendReply)> done) {
  Backend* backend = backends_[j].get();
  if (backend->complete_async(body, fields, deadline, done)) return;
  (void)fanout_.submit([backend, &body, deadline, done = std::move(done)] {
    done(backend->complete(body, deadline));
  });
}

std::vector<std::string> Gateway::model_names() const {
  std::vector<std::string> names;
  for (const auto& b : backends_) names.push_back(b->name());
  return names;
}

std::string candidate_text(const Completion& r) {
  const json& message = r.body["choices"][0]["message"];
  const auto calls = message.find("tool_calls");
  if (calls == message.end() || !calls->is_array() || calls->empty()) return r.content;
  std::string out(kToolCalls);
  for (const auto& c : *calls) {
    const json fn = c.value("function", json::object());
    const json args = fn.value("arguments", json(""));
    json parsed = args.is_string() ? parse_json_body(args.get<std::string>()) : args;
    if (parsed.is_discarded()) parsed = args;
    out.append(" ").append(fn.value("name", std::string())).append(parsed.dump());
  }
  return out;
}

void add_usage(const json& reply, json& usage) {
  for (const char* k : {"prompt_tokens", "completion_tokens", "total_tokens"})
    if (const auto n = usage_tokens(reply, k)) usage[k] = usage[k].get<int64_t>() + *n;
}

bool has_tool_calls(const std::vector<std::optional<std::string>>& answers) {
  return std::any_of(answers.begin(), answers.end(),
                     [](const auto& a) { return a && a->starts_with(kToolCalls); });
}

Plan Gateway::plan_for(const BankView& view, const ChatRequest& request,
                       const SparseVec& question) const {
  Eligible usable(backends_.size(), false);  // a closed circuit, and not the escalation model
  for (int pass = 0; pass < 2; ++pass) {     // all open: try them all
    for (size_t j = 0; j < backends_.size(); ++j)
      usable[j] = !unrouted_[j] && (pass == 1 || !health_.open(j));
    if (std::find(usable.begin(), usable.end(), true) != usable.end()) break;
  }
  Plan plan = plan_from_neighbors(view.bank, retrieve(view.bank, question, params_.rps), view.pool,
                                  params_, request.retrieval_key, usable);
  plan.ranker = &view.ranker;  // fitted on this bank (tuning's, on the startup bank, is the same)
  return plan;
}

Gateway::TokenGuess Gateway::guess_tokens(const ChatRequest& request) {
  const json max_tokens = request.body.value("max_tokens", json(512));
  return {.prompt = static_cast<double>(request.body["messages"].dump().size()) / 4,
          .completion = max_tokens.is_number() ? max_tokens.get<double>() : 512};
}

std::optional<double> Gateway::expected_cost(size_t j, const Plan& plan,
                                             const TokenGuess& tokens) const {
  if (plan.proxy.cost[j]) return plan.proxy.cost[j];
  return prices_[j].cost(tokens.prompt, tokens.completion);
}

void Gateway::fit_budget(Plan& plan, const TokenGuess& tokens, double budget) const {
  std::vector<int> kept;
  double spent = 0;
  for (int m : plan.selection.selected) {
    const double cost = expected_cost(m, plan, tokens).value_or(0);
    if (spent + cost > budget) continue;
    spent += cost;
    kept.push_back(m);
  }
  plan.selection.selected = std::move(kept);
}

void Gateway::fan_out(std::vector<int> members, const std::shared_ptr<Job>& job, RepliesFn done,
                      const std::vector<json>* bodies, const std::vector<std::string>* fields) {
  struct Gather {
    std::mutex mutex;
    std::vector<int> members;
    std::vector<std::optional<BackendReply>> slots;
    size_t missing;
    RepliesFn done;
  };
  auto gather = std::make_shared<Gather>();
  gather->members = std::move(members);
  gather->slots.resize(gather->members.size());
  gather->missing = gather->members.size();
  gather->done = std::move(done);
  // The last reply in hands the replies on, on its own thread.
  auto store = [this, gather](size_t i, BackendReply r) {
    {
      std::lock_guard lock(gather->mutex);
      gather->slots[i].emplace(std::move(r));
      if (--gather->missing > 0) return;
    }
    std::vector<BackendReply> replies;
    for (size_t j = 0; j < gather->members.size(); ++j) {
      record_health(gather->members[j], *gather->slots[j]);
      replies.push_back(std::move(*gather->slots[j]));
    }
    gather->done(std::move(replies));
  };
  for (size_t i = 0; i < gather->members.size(); ++i)
    call_backend(gather->members[i], bodies ? (*bodies)[i] : job->request->body,
                 fields ? (*fields)[i] : job->request->upstream_fields, job->deadline,
                 [store, i, job](BackendReply r) { store(i, std::move(r)); });
}

void Gateway::account(const std::vector<int>& asked, const std::vector<BackendReply>& replies,
                      GatewayAnswer& out) {
  json latency = json::object(), errors = json::object(), cost = json::object(),
       usage = {{"prompt_tokens", 0}, {"completion_tokens", 0}, {"total_tokens", 0}};
  for (size_t i = 0; i < asked.size(); ++i) {
    const std::string& name = backends_[asked[i]]->name();
    const BackendReply& r = replies[i];
    metrics_.count_backend(name, r.ok(), latency_ms(r) / 1000.0);
    metrics_.count_model("selected", name);
    latency[name] = latency_ms(r);
    if (!r.ok()) {
      errors[name] = r.error().message;
      continue;
    }
    out.answered.push_back(name);
    add_usage(r->body, usage);
    if (const auto usd = prices_[asked[i]].cost_of(r->body)) {
      cost[name] = *usd;
      out.cost_usd = out.cost_usd.value_or(0) + *usd;
      metrics_.count_cost(name, *usd);
    }
  }
  out.usage = usage;
  out.trace["latency_ms"] = latency;
  out.trace["errors"] = errors;
  if (out.cost_usd) out.trace["cost_usd"] = {{"total", *out.cost_usd}, {"by_model", cost}};
}

namespace {

// Why every asked backend failed, as the client should see it: 400 when each refused the
// request (a retry cannot help), 504 when each timed out, else 502.
ApiError explain_failure(const std::vector<BackendReply>& replies, const json& errors) {
  const bool all_refused = std::all_of(
      replies.begin(), replies.end(), [](const auto& r) { return !r.ok() && r.error().refused(); });
  const bool all_timed_out = std::all_of(
      replies.begin(), replies.end(), [](const auto& r) { return !r.ok() && r.error().timed_out; });
  const bool all_rate_limited = std::all_of(replies.begin(), replies.end(), [](const auto& r) {
    return !r.ok() && r.error().status == 429;
  });
  std::string why;
  for (const auto& [name, e] : errors.items()) {
    if (!why.empty()) why += "; ";
    why += name + ": " + e.get<std::string>();
  }
  if (all_refused)
    return {.status = 400,
            .type = "invalid_request_error",
            .message = "every selected backend refused the request: " + why,
            .code = "backends_refused"};
  if (all_rate_limited) {  // the client may come back when the last of them frees up
    double after = 1;
    for (const auto& r : replies) after = std::max(after, r.error().retry_after_s);
    return {.status = 429,
            .type = "rate_limit_error",
            .message = "every selected backend is rate limited: " + why,
            .code = "rate_limit_exceeded",
            .retry_after_s = after};
  }
  if (all_timed_out)
    return {.status = 504,
            .type = "server_error",
            .message = "every selected backend timed out: " + why,
            .code = "backends_timeout"};
  return {.status = 502,
          .type = "server_error",
          .message = "every selected backend failed: " + why,
          .code = "backends_failed"};
}

}  // namespace

void Gateway::answer_async(std::shared_ptr<const ChatRequest> request, Deadline deadline,
                           AnswerFn done, std::shared_ptr<const std::atomic<bool>> client_gone) {
  auto job = std::make_shared<Job>();
  job->client_gone = std::move(client_gone);
  job->view = view();
  job->request = std::move(request);
  job->deadline = deadline;
  job->done = std::move(done);
  // Embedded before the lock (an embedder may call out); feedback may be appending a row.
  const SparseVec question = job->view->bank.embedder->embed(job->request->retrieval_key);
  std::shared_lock bank_lock(job->view->mutex);
  job->plan = plan_for(*job->view, *job->request, question);
  const int task = job->plan.proxy.task;
  job->task_kind = task >= 0 ? job->view->task_kind[task] : AnswerKind::kText;
  if (task >= 0) job->task_name = job->view->bank.tasks[task];
  bank_lock.unlock();
  const std::optional<double>& budget = job->request->max_cost_usd;
  if (budget) {
    job->tokens = guess_tokens(*job->request);
    fit_budget(job->plan, job->tokens, *budget);
    if (job->plan.selection.selected.empty())
      return job->answer(
          failure(ApiError{.status = 400,
                           .type = "invalid_request_error",
                           .message = "smacs.max_cost_usd " + std::to_string(*budget) +
                                      " is below the expected cost of every "
                                      "selected model",
                           .param = "smacs.max_cost_usd",
                           .code = "budget_too_small"}));
  }
  SmacsParams rounds = params_;  // aggregate mode: the references answer in one round
  if (params_.mode == EpeMode::kAggregate) rounds.adaptive.enabled = false;
  job->rounds.emplace(job->plan, rounds);
  next_round(job);
}

void Gateway::next_round(const std::shared_ptr<Job>& job) {
  const auto batch = job->rounds->next();
  if (!batch) {
    if (const auto& choice = job->rounds->result().choice)
      for (size_t i = 0; i < job->asked.size(); ++i)
        if (job->asked[i] == choice->member) job->chosen = i;
    if (job->abandoned()) return;
    if (params_.mode == EpeMode::kAggregate && aggregate(job)) return;
    // The posterior stayed unsure: the escalation model answers if it can.
    if (!job->rounds->result().settled && escalate(job)) return;
    return finish(*job);
  }
  if (job->abandoned()) return;
  const auto& selected = job->plan.selection.selected;
  std::vector<int> members(selected.begin() + static_cast<long>(batch->first),
                           selected.begin() + static_cast<long>(batch->second));
  job->asked.insert(job->asked.end(), members.begin(), members.end());
  fan_out(std::move(members), job, [this, job](std::vector<BackendReply> replies) {
    job->guarded([&] { take_round(job, std::move(replies)); });
  });
}

void Gateway::take_round(const std::shared_ptr<Job>& job, std::vector<BackendReply> replies) {
  std::vector<std::optional<std::string>> texts;
  for (auto& r : replies) {
    texts.push_back(r.ok() ? std::optional<std::string>(candidate_text(*r)) : std::nullopt);
    job->replies.push_back(std::move(r));
  }
  job->rounds->take(std::move(texts), [&](const auto& answers) {
    // Tool calls compare as whitespace-separated tokens, whatever the task.
    return has_tool_calls(answers) ? AnswerKind::kCode : job->task_kind;
  });
  next_round(job);
}

std::optional<double> Gateway::budget_left(const Job& job) const {
  std::optional<double> left = job.request->max_cost_usd;
  if (left)
    for (int m : job.asked) *left -= expected_cost(m, job.plan, job.tokens).value_or(0);
  return left;
}

bool Gateway::escalate(const std::shared_ptr<Job>& job) {
  if (escalate_ < 0) return false;
  if (const auto left = budget_left(*job))
    if (expected_cost(escalate_, job->plan, job->tokens).value_or(0) > *left) return false;
  job->escalated = backends_[escalate_]->name();
  metrics_.count_model("escalated", job->escalated);
  job->asked.push_back(escalate_);
  fan_out({escalate_}, job, [this, job](std::vector<BackendReply> r) {
    job->guarded([&] {
      job->replies.push_back(std::move(r.front()));
      if (job->replies.back().ok()) job->chosen = job->asked.size() - 1;
      finish(*job);
    });
  });
  return true;
}

void Gateway::finish(Job& job) {
  const Rounds& rounds = job.rounds->result();
  const bool capped = job.plan.selection.selected.size() < job.plan.k && job.request->max_cost_usd;
  const std::string stop = rounds.settled ? "settled" : capped ? "budget" : "all_asked";
  metrics_.count_rounds(rounds.rounds, stop);
  for (int m : job.plan.selection.dropped) metrics_.count_model("dropped", backends_[m]->name());

  GatewayAnswer out;
  account(job.asked, job.replies, out);
  out.task = job.task_name;
  out.trace.update(trace_of(job.plan, rounds, out.task));
  out.trace["rounds"] = rounds.rounds;
  out.trace["stopped"] = stop;
  out.trace["escalated_to"] = job.escalated.empty() ? json() : json(job.escalated);
  if (job.aggregation) account_aggregate(job, out);
  if (!job.chosen) return job.answer(failure(explain_failure(job.replies, out.trace["errors"])));
  const int candidate = job.aggregation ? job.aggregation->result().best : -1;
  BackendReply& chosen = candidate >= 0 ? job.aggregate_replies[static_cast<size_t>(candidate)]
                                        : job.replies[*job.chosen];
  out.chosen = backends_[candidate >= 0 ? aggregator_ : job.asked[*job.chosen]]->name();
  if (candidate >= 0) out.aggregator = out.chosen;
  out.content = chosen->content;
  out.reply = std::move(chosen->body);
  const json& asked_logprobs = job.request->body.value("logprobs", json(false));
  if (candidate >= 0 && !(asked_logprobs.is_boolean() && asked_logprobs.get<bool>()))
    out.reply["choices"][0].erase("logprobs");  // asked for the ppl term, not by the client
  out.trace["chosen"] = out.chosen;
  metrics_.count_model("chosen", out.chosen);
  job.answer(std::move(out));
}

json Gateway::trace_of(const Plan& plan, const Rounds& rounds, const std::string& task) const {
  auto names_of = [&](const std::vector<int>& members) {
    json a = json::array();
    for (int m : members) a.push_back(backends_[m]->name());
    return a;
  };
  json proxy = json::object(), skipped = json::array();
  for (size_t j = 0; j < backends_.size(); ++j) {
    proxy[backends_[j]->name()] = plan.proxy.score[j];
    const auto& ranked = plan.selection.ranked;
    if (!unrouted_[j] &&
        std::find(ranked.begin(), ranked.end(), static_cast<int>(j)) == ranked.end())
      skipped.push_back(backends_[j]->name());
  }
  const bool tools = has_tool_calls(rounds.answers);
  json trace = {{"selected", names_of(plan.selection.selected)},
                {"dropped", names_of(plan.selection.dropped)},
                {"replacements", names_of(plan.selection.replacements)},
                {"unhealthy_skipped", skipped},
                {"task", task.empty() ? json() : json(task)},
                {"answer_kind", tools ? "tool_calls" : to_string(rounds.kind)},
                {"proxy_scores", proxy}};
  if (rounds.choice) {
    json posterior = json::object();
    const Posterior& post = rounds.choice->posterior;
    for (size_t c = 0; c < rounds.choice->candidates.size(); ++c) {
      json& scores = posterior[backends_[rounds.choice->candidates[c]]->name()];
      scores = {{"prior", post.prior_norm[c]},
                {"agreement", post.agreement[c]},
                {"hybrid", post.hybrid[c]},
                {"answer", post.answers[c]}};
      if (c < post.consensus.size()) scores["consensus"] = post.consensus[c];
      if (c < post.ranker.size()) scores["ranker"] = post.ranker[c];
    }
    trace["posterior_scores"] = posterior;
    if (is_free_text(rounds.kind))
      trace["text_rule"] = post.ranker_missing
                               ? "hybrid (the bank has no judged free text to fit the ranker)"
                               : to_string(post.text_rule);
  }
  return trace;
}

}  // namespace smacs
