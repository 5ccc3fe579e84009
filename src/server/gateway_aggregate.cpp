// Aggregate mode in the gateway: the aggregator's N calls over subsets of the references
// (pipeline/aggregate_mode.h decides what to ask and which candidate wins), and their trace.
#include "server/gateway_job.h"

namespace smacs {

using nlohmann::json;

bool Gateway::aggregate(const std::shared_ptr<Job>& job) {
  const Rounds& rounds = job->rounds->result();
  std::vector<std::optional<std::string>> texts;  // aligned with the selection: asked in order
  for (const auto& r : job->replies)
    texts.push_back(r.ok() ? std::optional<std::string>(candidate_text(*r)) : std::nullopt);
  job->aggregation.emplace(job->plan, rounds, std::move(texts), params_,
                           job->request->retrieval_key);
  const size_t calls = job->aggregation->result().subsets.size();
  if (job->aggregation->result().asked() && health_.open(static_cast<size_t>(aggregator_)))
    job->aggregation->skip("circuit_open");  // as a pool model with an open circuit: not asked
  if (const auto left = budget_left(*job); left && job->aggregation->result().asked()) {
    const double each = expected_cost(aggregator_, job->plan, job->tokens).value_or(0);
    if (each * static_cast<double>(calls) > *left) job->aggregation->skip("budget");
  }
  if (!job->aggregation->result().asked()) {
    if (job->aggregation->result().skipped != "no_references")
      metrics_.count_model("aggregate_skipped", backends_[aggregator_]->name());
    return false;
  }
  for (const auto& refs : job->aggregation->call_references()) {
    job->aggregate_bodies.push_back(
        aggregator_request(job->request->body, refs, params_.aggregate.temperature));
    job->aggregate_fields.push_back(fields_for_upstream(job->aggregate_bodies.back()));
  }
  std::vector<int> members(job->aggregate_bodies.size(), aggregator_);
  fan_out(
      std::move(members), job,
      [this, job](std::vector<BackendReply> replies) {
        job->guarded([&] {
          std::vector<std::optional<AggregateCandidate>> candidates;
          for (const auto& r : replies)
            candidates.push_back(
                r.ok() ? std::optional(aggregate_candidate(r->body, candidate_text(*r)))
                       : std::nullopt);
          job->aggregate_replies = std::move(replies);
          job->aggregation->take(
              std::move(candidates),
              has_tool_calls(job->rounds->result().answers) ? AnswerKind::kCode : job->task_kind,
              *job->view->bank.embedder);
          finish(*job);
        });
      },
      &job->aggregate_bodies, &job->aggregate_fields);
  return true;
}

void Gateway::account_aggregate(const Job& job, GatewayAnswer& out) {
  const Aggregation& a = job.aggregation->result();
  const std::string& name = backends_[aggregator_]->name();
  json candidates = json::array();
  for (size_t j = 0; j < a.subsets.size(); ++j) {
    json subset = json::array();
    for (size_t s : a.subsets[j])
      subset.push_back(backends_[job.plan.selection.selected[s]]->name());
    json c = {{"subset", subset}};
    if (j < job.aggregate_replies.size()) {
      const BackendReply& r = job.aggregate_replies[j];
      metrics_.count_backend(name, r.ok(), latency_ms(r) / 1000.0);
      metrics_.count_model("aggregator_call", name);
      c["latency_ms"] = latency_ms(r);
      if (r.ok()) {
        add_usage(r->body, out.usage);
        if (const auto usd = prices_[aggregator_].cost_of(r->body)) {
          out.cost_usd = out.cost_usd.value_or(0) + *usd;
          metrics_.count_cost(name, *usd);
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
  if (a.fell_back()) metrics_.count_model("aggregate_fallback", name);
  json references = json::array();
  for (size_t i : a.references)
    references.push_back({{"model", backends_[job.plan.selection.selected[i]]->name()},
                          {"latency_ms", latency_ms(job.replies[i])}});
  out.trace["aggregate"] = {
      {"aggregator", name},
      {"references", references},
      {"candidates", candidates},
      {"chosen", a.best >= 0 ? json(a.best) : json()},
      {"skipped", a.skipped.empty() ? json() : json(a.skipped)},
      {"fallback",
       a.fell_back() ? json("every aggregator call failed: the select-mode answer") : json()}};
  if (out.cost_usd) out.trace["cost_usd"]["total"] = *out.cost_usd;
}

}  // namespace smacs
