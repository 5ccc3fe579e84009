#include "server/gateway.h"

#include <algorithm>

#include "bank/bank_store.h"
#include "core/error.h"

namespace smacs {

using nlohmann::json;

Gateway::Gateway(PriorBank bank, SmacsParams params, std::vector<std::unique_ptr<Backend>> backends,
                 Metrics& metrics, GatewayOptions options)
    : params_(params),
      backends_(std::move(backends)),
      prices_(std::move(options.prices)),
      metrics_(metrics),
      fanout_(options.fanout_threads),
      health_(backends_.size()) {
  prices_.resize(backends_.size());
  for (size_t j = 0; j < backends_.size(); ++j)
    if (backends_[j]->name() == options.escalate_to) escalate_ = static_cast<int>(j);
  if (!options.escalate_to.empty() && escalate_ < 0)
    throw Error("escalate_to '" + options.escalate_to + "' is not a pool model");
  view_ = make_view(std::move(bank));
  if (!options.bank_file.empty())
    bank_file_ = BankFile::open(options.bank_file, BankFile::Mode::kWrite);
}

Gateway::~Gateway() = default;

std::shared_ptr<const BankView> Gateway::make_view(PriorBank bank) const {
  auto v = std::make_shared<BankView>();
  v->bank = std::move(bank);
  for (const auto& b : backends_) v->pool.push_back(v->bank.data.model_index(b->name()));
  const auto kinds = detect_task_kinds(v->bank.data.records);
  for (const auto& task : v->bank.tasks) v->task_kind.push_back(kinds.at(task));
  return v;
}

std::shared_ptr<const BankView> Gateway::view() const {
  std::lock_guard lock(view_mutex_);
  return view_;
}

void Gateway::reload(PriorBank bank) {
  auto next = make_view(std::move(bank));  // built outside the lock: requests go on meanwhile
  std::lock_guard lock(view_mutex_);
  view_ = std::move(next);
}

std::vector<std::string> Gateway::cold_models() const {
  const auto v = view();
  std::vector<std::string> out;
  for (size_t j = 0; j < backends_.size(); ++j)
    if (v->pool[j] < 0) out.push_back(backends_[j]->name());
  return out;
}

Backend* Gateway::backend(const std::string& name) {
  for (auto& b : backends_)
    if (b->name() == name) return b.get();
  return nullptr;
}

std::vector<std::string> Gateway::model_names() const {
  std::vector<std::string> names;
  for (const auto& b : backends_) names.push_back(b->name());
  return names;
}

namespace {

constexpr std::string_view kToolCalls = "tool_calls:";  // how candidate_text marks tool calls

// What a candidate answered, for agreement: its text, or for tool calls the functions and
// their arguments in canonical JSON (same call = same string, whatever the key order).
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

bool has_tool_calls(const std::vector<std::optional<std::string>>& answers) {
  return std::any_of(answers.begin(), answers.end(),
                     [](const auto& a) { return a && a->starts_with(kToolCalls); });
}

}  // namespace

Plan Gateway::plan_for(const BankView& view, const ChatRequest& request) const {
  const auto neighbors = retrieve(view.bank, request.retrieval_key, params_.rps);
  Plan plan;
  plan.proxy = proxy_scores(view.bank, neighbors, view.pool, params_.rps);
  std::vector<int> usable;  // pool positions with a closed circuit, but the escalation model
  for (int pass = 0; pass < 2 && usable.empty(); ++pass)  // all open: try them all
    for (size_t j = 0; j < backends_.size(); ++j)
      if (static_cast<int>(j) != escalate_ && (pass == 1 || !health_.open(j)))
        usable.push_back(static_cast<int>(j));
  const std::vector<double> rank = rank_scores(plan.proxy, params_.rps.cost_weight);
  std::vector<double> scores;
  for (int j : usable) scores.push_back(rank[j]);
  Selection s = select_models(scores, params_.k, params_.p_drop,
                              mix_seed(params_.seed, request.retrieval_key));
  for (auto* members : {&s.ranked, &s.selected, &s.dropped, &s.replacements})
    for (int& m : *members) m = usable[m];
  plan.selection = std::move(s);
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

std::vector<BackendReply> Gateway::fan_out(const std::vector<int>& members, const json& body,
                                           Deadline deadline) {
  // Pool workers for all but the last, which runs here.
  std::vector<std::optional<BackendReply>> slots(members.size());
  std::vector<std::future<void>> pending;
  for (size_t i = 0; i + 1 < members.size(); ++i)
    pending.push_back(fanout_.submit(
        [&, i] { slots[i].emplace(backends_[members[i]]->complete(body, deadline)); }));
  if (!members.empty()) slots.back().emplace(backends_[members.back()]->complete(body, deadline));
  for (auto& p : pending) p.wait();
  std::vector<BackendReply> replies;
  for (size_t i = 0; i < members.size(); ++i) {
    const BackendReply& r = *slots[i];
    if (health_.record(members[i], r.ok() || r.error().refused()))
      metrics_.count_model("circuit_opened", backends_[members[i]]->name());
    replies.push_back(std::move(*slots[i]));
  }
  return replies;
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
    for (const char* k : {"prompt_tokens", "completion_tokens", "total_tokens"})
      if (const auto n = usage_tokens(r->body, k)) usage[k] = usage[k].get<int64_t>() + *n;
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

Rounds Gateway::ask_in_rounds(const Plan& plan, AnswerKind task_kind, const ChatRequest& request,
                              Deadline deadline, Asked& asked) {
  const auto& selected = plan.selection.selected;
  Rounds rounds = run_rounds(
      plan, params_,
      [&](size_t from, size_t to) {
        const std::vector<int> batch(selected.begin() + static_cast<long>(from),
                                     selected.begin() + static_cast<long>(to));
        std::vector<std::optional<std::string>> texts;
        for (auto& r : fan_out(batch, request.body, deadline)) {
          texts.push_back(r.ok() ? std::optional<std::string>(candidate_text(*r)) : std::nullopt);
          asked.replies.push_back(std::move(r));
        }
        asked.members.insert(asked.members.end(), batch.begin(), batch.end());
        return texts;
      },
      [&](const std::vector<std::optional<std::string>>& answers) {
        // Tool calls compare as whitespace-separated tokens, whatever the task.
        return has_tool_calls(answers) ? AnswerKind::kCode : task_kind;
      });
  if (rounds.choice)
    for (size_t i = 0; i < asked.members.size(); ++i)
      if (asked.members[i] == rounds.choice->member) asked.chosen = i;
  return rounds;
}

std::string Gateway::escalate(const Plan& plan, const ChatRequest& request, Deadline deadline,
                              const std::optional<double>& budget, const TokenGuess& tokens,
                              Asked& asked) {
  if (escalate_ < 0) return "";
  if (budget) {
    double left = *budget;
    for (int m : asked.members) left -= expected_cost(m, plan, tokens).value_or(0);
    if (expected_cost(escalate_, plan, tokens).value_or(0) > left) return "";
  }
  metrics_.count_model("escalated", backends_[escalate_]->name());
  auto replies = fan_out({escalate_}, request.body, deadline);
  asked.members.push_back(escalate_);
  asked.replies.push_back(std::move(replies.front()));
  if (asked.replies.back().ok()) asked.chosen = asked.members.size() - 1;
  return backends_[escalate_]->name();
}

Result<GatewayAnswer, ApiError> Gateway::answer(const ChatRequest& request, Deadline deadline) {
  const auto view = this->view();  // one consistent bank for the whole request
  Plan plan = plan_for(*view, request);
  const std::optional<double>& budget = request.max_cost_usd;
  const TokenGuess tokens = budget ? guess_tokens(request) : TokenGuess{};
  if (budget) {
    fit_budget(plan, tokens, *budget);
    if (plan.selection.selected.empty())
      return failure(ApiError{.status = 400,
                              .type = "invalid_request_error",
                              .message = "smacs.max_cost_usd " +
                                         std::to_string(*request.max_cost_usd) +
                                         " is below the expected cost of every selected model",
                              .param = "smacs.max_cost_usd",
                              .code = "budget_too_small"});
  }
  const AnswerKind kind =
      plan.proxy.task >= 0 ? view->task_kind[plan.proxy.task] : AnswerKind::kText;
  Asked asked;
  const Rounds rounds = ask_in_rounds(plan, kind, request, deadline, asked);
  // The posterior stayed unsure: the escalation model answers if it can.
  const std::string escalated =
      rounds.settled ? "" : escalate(plan, request, deadline, budget, tokens, asked);
  const bool capped = plan.selection.selected.size() < params_.k && budget;
  const std::string stop = rounds.settled ? "settled" : capped ? "budget" : "all_asked";
  metrics_.count_rounds(rounds.rounds, stop);
  for (int m : plan.selection.dropped) metrics_.count_model("dropped", backends_[m]->name());

  GatewayAnswer out;
  account(asked.members, asked.replies, out);
  if (plan.proxy.task >= 0) out.task = view->bank.tasks[plan.proxy.task];
  out.trace.update(trace_of(plan, rounds, out.task));
  out.trace["rounds"] = rounds.rounds;
  out.trace["stopped"] = stop;
  out.trace["escalated_to"] = escalated.empty() ? json() : json(escalated);
  if (!asked.chosen) return failure(explain_failure(asked.replies, out.trace["errors"]));
  out.chosen = backends_[asked.members[*asked.chosen]]->name();
  out.content = asked.replies[*asked.chosen]->content;
  out.reply = std::move(asked.replies[*asked.chosen]->body);
  out.trace["chosen"] = out.chosen;
  metrics_.count_model("chosen", out.chosen);
  return out;
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
    if (static_cast<int>(j) != escalate_ &&
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
    for (size_t c = 0; c < rounds.choice->candidates.size(); ++c)
      posterior[backends_[rounds.choice->candidates[c]]->name()] = {
          {"prior", post.prior_norm[c]},
          {"agreement", post.agreement[c]},
          {"hybrid", post.hybrid[c]},
          {"answer", post.answers[c]}};
    trace["posterior_scores"] = posterior;
  }
  return trace;
}

}  // namespace smacs
