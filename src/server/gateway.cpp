#include "server/gateway.h"


#include "core/error.h"

namespace smacs {

using nlohmann::json;

Gateway::Gateway(PriorBank bank, SmacsParams params, std::vector<std::unique_ptr<Backend>> backends, Metrics& metrics,
                 size_t fanout_threads)
    : bank_(std::move(bank)), params_(params), backends_(std::move(backends)), metrics_(metrics), fanout_(fanout_threads) {
  for (const auto& b : backends_) {
    const int col = bank_.data.model_index(b->name());
    if (col < 0)
      throw Error("pool model '" + b->name() + "' has no results in the prior bank, so SMACS has no prior for it");
    pool_.push_back(col);
  }
  for (size_t t = 0; t < bank_.tasks.size(); ++t) {
    std::vector<std::string> questions, golds;
    for (size_t i = 0; i < bank_.size(); ++i)
      if (bank_.task_of[i] == t) questions.push_back(bank_.data.records[i].question), golds.push_back(bank_.data.records[i].gold);
    task_kind_.push_back(detect_answer_kind(questions, golds));
  }
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

GatewayAnswer Gateway::answer(const ChatRequest& request, Deadline deadline) {
  const auto neighbors = retrieve(bank_, request.retrieval_key, params_.rps);
  const Plan plan = plan_from_neighbors(bank_, neighbors, pool_, params_, request.retrieval_key);
  const auto& selected = plan.selection.selected;

  // Query the selected models concurrently: pool workers for all but the last, which runs here.
  std::vector<BackendReply> replies(selected.size());
  std::vector<std::future<void>> pending;
  for (size_t i = 0; i + 1 < selected.size(); ++i)
    pending.push_back(fanout_.submit([&, i] { replies[i] = backends_[selected[i]]->complete(request.body, deadline); }));
  if (!selected.empty()) replies.back() = backends_[selected.back()]->complete(request.body, deadline);
  for (auto& p : pending) p.wait();

  GatewayAnswer out;
  json latency = json::object(), errors = json::object(), usage = {{"prompt_tokens", 0}, {"completion_tokens", 0}, {"total_tokens", 0}};
  std::vector<std::optional<std::string>> answers;
  for (size_t i = 0; i < selected.size(); ++i) {
    const std::string& name = backends_[selected[i]]->name();
    const BackendReply& r = replies[i];
    metrics_.count_backend(name, r.ok, r.latency_ms / 1000.0);
    metrics_.count_model("selected", name);
    latency[name] = r.latency_ms;
    if (!r.ok) errors[name] = r.error;
    answers.push_back(r.ok ? std::optional<std::string>(r.content) : std::nullopt);
    if (r.ok && r.body.contains("usage") && r.body["usage"].is_object())
      for (const char* k : {"prompt_tokens", "completion_tokens", "total_tokens"})
        if (r.body["usage"].contains(k) && r.body["usage"][k].is_number()) usage[k] = usage[k].get<int64_t>() + r.body["usage"][k].get<int64_t>();
  }
  for (int m : plan.selection.dropped) metrics_.count_model("dropped", backends_[m]->name());
  const AnswerKind kind = plan.proxy.task >= 0 ? task_kind_[plan.proxy.task] : AnswerKind::kText;
  const auto choice = choose(plan, answers, kind, params_);

  auto names_of = [&](const std::vector<int>& members) {
    json a = json::array();
    for (int m : members) a.push_back(backends_[m]->name());
    return a;
  };
  json proxy = json::object();
  for (size_t j = 0; j < pool_.size(); ++j) proxy[backends_[j]->name()] = plan.proxy.score[j];
  out.trace = {{"selected", names_of(selected)},
               {"dropped", names_of(plan.selection.dropped)},
               {"replacements", names_of(plan.selection.replacements)},
               {"task", plan.proxy.task >= 0 ? json(bank_.tasks[plan.proxy.task]) : json()},
               {"answer_kind", to_string(kind)},
               {"proxy_scores", proxy},
               {"latency_ms", latency},
               {"errors", errors}};
  if (!choice) {
    std::string why;
    for (const auto& [name, e] : errors.items()) {
      if (!why.empty()) why += "; ";
      why += name + ": " + e.get<std::string>();
    }
    out.error = "every selected backend failed: " + why;
    return out;
  }
  json posterior = json::object();
  for (size_t c = 0; c < choice->candidates.size(); ++c)
    posterior[backends_[choice->candidates[c]]->name()] = {
        {"prior", choice->posterior.prior_norm[c]}, {"agreement", choice->posterior.agreement[c]},
        {"hybrid", choice->posterior.hybrid[c]}, {"answer", choice->posterior.answers[c]}};
  out.ok = true;
  out.chosen = backends_[choice->member]->name();
  for (size_t i = 0; i < selected.size(); ++i)
    if (selected[i] == choice->member) out.content = replies[i].content;
  out.trace["posterior_scores"] = posterior;
  out.trace["chosen"] = out.chosen;
  out.usage = usage;
  metrics_.count_model("chosen", out.chosen);
  return out;
}

}  // namespace smacs
