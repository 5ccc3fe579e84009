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

// What a candidate answered, for agreement: its text, or for tool calls the functions and
// their arguments in canonical JSON (same call = same string, whatever the key order).
std::string candidate_text(const BackendReply& r) {
  const json& message = r.body["choices"][0]["message"];
  const auto calls = message.find("tool_calls");
  if (calls == message.end() || !calls->is_array() || calls->empty()) return r.content;
  std::string out = "tool_calls:";
  for (const auto& c : *calls) {
    const json fn = c.value("function", json::object());
    const json args = fn.value("arguments", json(""));
    json parsed = args.is_string() ? parse_json_body(args.get<std::string>()) : args;
    if (parsed.is_discarded()) parsed = args;
    out.append(" ").append(fn.value("name", std::string())).append(parsed.dump());
  }
  return out;
}

}  // namespace

Plan Gateway::plan_for(const BankView& view, const ChatRequest& request) const {
  const auto neighbors = retrieve(view.bank, request.retrieval_key, params_.rps);
  Plan plan;
  plan.proxy = proxy_scores(view.bank, neighbors, view.pool, params_.rps);
  std::vector<int> healthy;  // pool positions with a closed circuit
  for (size_t j = 0; j < backends_.size(); ++j)
    if (!health_.open(j)) healthy.push_back(static_cast<int>(j));
  if (healthy.empty())  // all open: try them all rather than refuse
    for (size_t j = 0; j < backends_.size(); ++j) healthy.push_back(static_cast<int>(j));
  std::vector<double> scores;
  for (int j : healthy) scores.push_back(plan.proxy.score[j]);
  Selection s = select_models(scores, params_.k, params_.p_drop,
                              mix_seed(params_.seed, request.retrieval_key));
  for (auto* members : {&s.ranked, &s.selected, &s.dropped, &s.replacements})
    for (int& m : *members) m = healthy[m];
  plan.selection = std::move(s);
  return plan;
}

std::vector<BackendReply> Gateway::fan_out(const std::vector<int>& selected, const json& body,
                                           Deadline deadline) {
  // Pool workers for all but the last, which runs here.
  std::vector<BackendReply> replies(selected.size());
  std::vector<std::future<void>> pending;
  for (size_t i = 0; i + 1 < selected.size(); ++i)
    pending.push_back(
        fanout_.submit([&, i] { replies[i] = backends_[selected[i]]->complete(body, deadline); }));
  if (!selected.empty()) replies.back() = backends_[selected.back()]->complete(body, deadline);
  for (auto& p : pending) p.wait();
  for (size_t i = 0; i < selected.size(); ++i)
    if (health_.record(selected[i], replies[i].ok || replies[i].refused()))
      metrics_.count_model("circuit_opened", backends_[selected[i]]->name());
  return replies;
}

GatewayAnswer Gateway::answer(const ChatRequest& request, Deadline deadline) {
  const auto view = this->view();  // one consistent bank for the whole request
  const PriorBank& bank = view->bank;
  const Plan plan = plan_for(*view, request);
  const auto& selected = plan.selection.selected;
  const std::vector<BackendReply> replies = fan_out(selected, request.body, deadline);

  GatewayAnswer out;
  json latency = json::object(), errors = json::object(), cost = json::object(),
       usage = {{"prompt_tokens", 0}, {"completion_tokens", 0}, {"total_tokens", 0}};
  std::vector<std::optional<std::string>> answers;
  bool all_refused = true, all_timed_out = true;
  for (size_t i = 0; i < selected.size(); ++i) {
    const std::string& name = backends_[selected[i]]->name();
    const BackendReply& r = replies[i];
    metrics_.count_backend(name, r.ok, r.latency_ms / 1000.0);
    metrics_.count_model("selected", name);
    latency[name] = r.latency_ms;
    if (!r.ok) errors[name] = r.error;
    all_refused = all_refused && !r.ok && r.refused();
    all_timed_out = all_timed_out && !r.ok && r.timed_out;
    answers.push_back(r.ok ? std::optional<std::string>(candidate_text(r)) : std::nullopt);
    if (r.ok) out.answered.push_back(name);
    for (const char* k : {"prompt_tokens", "completion_tokens", "total_tokens"})
      if (const int64_t n = r.ok ? usage_tokens(r.body, k) : -1; n >= 0)
        usage[k] = usage[k].get<int64_t>() + n;
    if (const auto usd = r.ok ? prices_[selected[i]].cost_of(r.body) : std::nullopt) {
      cost[name] = *usd;
      out.cost_usd = out.cost_usd.value_or(0) + *usd;
      metrics_.count_cost(name, *usd);
    }
  }
  for (int m : plan.selection.dropped) metrics_.count_model("dropped", backends_[m]->name());
  AnswerKind kind = plan.proxy.task >= 0 ? view->task_kind[plan.proxy.task] : AnswerKind::kText;
  const bool tools = std::any_of(answers.begin(), answers.end(), [](const auto& a) {
    return a && a->rfind("tool_calls:", 0) == 0;
  });
  if (tools) kind = AnswerKind::kCode;  // calls compare as whitespace-separated tokens
  if (plan.proxy.task >= 0) out.task = bank.tasks[plan.proxy.task];
  const auto choice = choose(plan, answers, kind, params_);

  auto names_of = [&](const std::vector<int>& members) {
    json a = json::array();
    for (int m : members) a.push_back(backends_[m]->name());
    return a;
  };
  json proxy = json::object(), skipped = json::array();
  for (size_t j = 0; j < backends_.size(); ++j) {
    proxy[backends_[j]->name()] = plan.proxy.score[j];
    if (std::find(plan.selection.ranked.begin(), plan.selection.ranked.end(),
                  static_cast<int>(j)) == plan.selection.ranked.end())
      skipped.push_back(backends_[j]->name());
  }
  out.trace = {{"selected", names_of(selected)},
               {"dropped", names_of(plan.selection.dropped)},
               {"replacements", names_of(plan.selection.replacements)},
               {"unhealthy_skipped", skipped},
               {"task", out.task.empty() ? json() : json(out.task)},
               {"answer_kind", tools ? "tool_calls" : to_string(kind)},
               {"proxy_scores", proxy},
               {"latency_ms", latency},
               {"errors", errors}};
  if (out.cost_usd) out.trace["cost_usd"] = {{"total", *out.cost_usd}, {"by_model", cost}};
  if (!choice) {
    std::string why;
    for (const auto& [name, e] : errors.items()) {
      if (!why.empty()) why += "; ";
      why += name + ": " + e.get<std::string>();
    }
    out.status = all_refused ? 400 : all_timed_out ? 504 : 502;
    out.error = (all_refused     ? "every selected backend refused the request: "
                 : all_timed_out ? "every selected backend timed out: "
                                 : "every selected backend failed: ") +
                why;
    return out;
  }
  json posterior = json::object();
  for (size_t c = 0; c < choice->candidates.size(); ++c)
    posterior[backends_[choice->candidates[c]]->name()] = {
        {"prior", choice->posterior.prior_norm[c]},
        {"agreement", choice->posterior.agreement[c]},
        {"hybrid", choice->posterior.hybrid[c]},
        {"answer", choice->posterior.answers[c]}};
  out.ok = true;
  out.chosen = backends_[choice->member]->name();
  for (size_t i = 0; i < selected.size(); ++i)
    if (selected[i] == choice->member)
      out.content = replies[i].content, out.reply = replies[i].body;
  out.trace["posterior_scores"] = posterior;
  out.trace["chosen"] = out.chosen;
  out.usage = usage;
  metrics_.count_model("chosen", out.chosen);
  return out;
}

}  // namespace smacs
