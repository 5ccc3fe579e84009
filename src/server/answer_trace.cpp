#include "server/answer_trace.h"

#include <algorithm>

namespace smacs {

using nlohmann::json;

namespace {

// A reply's token counts added to `usage`.
void add_usage(const json& reply, json& usage) {
  for (const char* k : {"prompt_tokens", "completion_tokens", "total_tokens"})
    if (const auto n = usage_tokens(reply, k)) usage[k] = usage[k].get<int64_t>() + *n;
}

}  // namespace

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

json decision_trace(const BackendPool& pool, const Plan& plan, const Rounds& rounds,
                    const std::string& task) {
  auto names_of = [&](const std::vector<int>& members) {
    json a = json::array();
    for (int m : members) a.push_back(pool.name(m));
    return a;
  };
  json proxy = json::object(), skipped = json::array();
  for (size_t j = 0; j < pool.size(); ++j) {
    proxy[pool.name(j)] = plan.proxy.score[j];
    const auto& ranked = plan.selection.ranked;
    if (pool.routed(j) &&
        std::find(ranked.begin(), ranked.end(), static_cast<int>(j)) == ranked.end())
      skipped.push_back(pool.name(j));
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
      json& scores = posterior[pool.name(rounds.choice->candidates[c])];
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

void account(const BackendPool& pool, Metrics& metrics, const std::vector<int>& asked,
             const std::vector<BackendReply>& replies, GatewayAnswer& out) {
  json latency = json::object(), errors = json::object(), cost = json::object(),
       usage = {{"prompt_tokens", 0}, {"completion_tokens", 0}, {"total_tokens", 0}};
  for (size_t i = 0; i < asked.size(); ++i) {
    const std::string& name = pool.name(asked[i]);
    const BackendReply& r = replies[i];
    metrics.count_backend(name, r.ok(), latency_ms(r) / 1000.0);
    metrics.count_model("selected", name);
    latency[name] = latency_ms(r);
    if (!r.ok()) {
      errors[name] = r.error().message;
      continue;
    }
    out.answered.push_back(name);
    add_usage(r->body, usage);
    if (const auto usd = pool.price(asked[i]).cost_of(r->body)) {
      cost[name] = *usd;
      out.cost_usd = out.cost_usd.value_or(0) + *usd;
      metrics.count_cost(name, *usd);
    }
  }
  out.usage = usage;
  out.trace["latency_ms"] = latency;
  out.trace["errors"] = errors;
  if (out.cost_usd) out.trace["cost_usd"] = {{"total", *out.cost_usd}, {"by_model", cost}};
}

void account_aggregate(const BackendPool& pool, Metrics& metrics, const Plan& plan,
                       const Aggregation& a, const std::vector<BackendReply>& reference_replies,
                       const std::vector<BackendReply>& candidate_replies, GatewayAnswer& out) {
  const size_t aggregator = static_cast<size_t>(pool.aggregator());
  const std::string& name = pool.name(aggregator);
  json candidates = json::array();
  for (size_t j = 0; j < a.subsets.size(); ++j) {
    json subset = json::array();
    for (size_t s : a.subsets[j]) subset.push_back(pool.name(plan.selection.selected[s]));
    json c = {{"subset", subset}};
    if (j < candidate_replies.size()) {
      const BackendReply& r = candidate_replies[j];
      metrics.count_backend(name, r.ok(), latency_ms(r) / 1000.0);
      metrics.count_model("aggregator_call", name);
      c["latency_ms"] = latency_ms(r);
      if (r.ok()) {
        add_usage(r->body, out.usage);
        if (const auto usd = pool.price(aggregator).cost_of(r->body)) {
          out.cost_usd = out.cost_usd.value_or(0) + *usd;
          metrics.count_cost(name, *usd);
        }
        const CandidateScore& score = a.scores[j];
        c["consensus"] = score.consensus;
        c["ppl"] = score.ppl ? json(*score.ppl) : json();
        c["total"] = score.total;
      } else {
        c["error"] = r.error().message;
      }
    }
    candidates.push_back(std::move(c));
  }
  if (a.fell_back()) metrics.count_model("aggregate_fallback", name);
  json references = json::array();
  for (size_t i : a.references)
    references.push_back({{"model", pool.name(plan.selection.selected[i])},
                          {"latency_ms", latency_ms(reference_replies[i])}});
  out.trace["aggregate"] = {
      {"aggregator", name},
      {"references", references},
      {"candidates", candidates},
      {"chosen", a.best >= 0 ? json(a.best) : json()},
      {"skipped", a.asked() ? json() : json(to_string(a.skipped))},
      {"fallback", a.fell_back()
                       ? json("no aggregator call gave a usable candidate: the select-mode answer")
                       : json()}};
  if (out.cost_usd) out.trace["cost_usd"]["total"] = *out.cost_usd;
}

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

}  // namespace smacs
