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
    // As a pool model with an open circuit: not asked.
    job->aggregation->skip(AggregateSkip::kCircuitOpen);
  if (const auto left = budget_left(*job); left && job->aggregation->result().asked()) {
    const double each = expected_cost(aggregator_, job->plan, job->tokens).value_or(0);
    if (each * static_cast<double>(calls) > *left) job->aggregation->skip(AggregateSkip::kBudget);
  }
  if (!job->aggregation->result().asked()) {
    if (job->aggregation->result().skipped != AggregateSkip::kNoReferences)
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
        job->guarded([&] { take_candidates(job, std::move(replies)); });
      },
      &job->aggregate_bodies, &job->aggregate_fields);
  return true;
}

// On the I/O thread of the last reply, so only what is cheap: a reply that is no candidate
// (blank, or over max_candidate_bytes) becomes a failed call and its bytes go at once. Scoring
// reads every candidate: it runs on a worker, never on the I/O thread other requests share.
void Gateway::take_candidates(const std::shared_ptr<Job>& job, std::vector<BackendReply> replies) {
  std::vector<std::optional<AggregateCandidate>> candidates;
  for (auto& r : replies) {
    std::optional<AggregateCandidate> c;
    std::string why;
    const size_t max_bytes = params_.aggregate.max_candidate_bytes;
    if (r.ok() && r->content.size() <= max_bytes)  // an oversized one is not even copied
      c = aggregate_candidate(r->body, candidate_text(*r), max_bytes, &why);
    else if (r.ok())
      why = "the reply has " + std::to_string(r->content.size()) +
            " bytes, more than max_candidate_bytes " + std::to_string(max_bytes);
    if (r.ok() && !c)
      r = failure(BackendError{.status = 200,
                               .message = why,
                               .kind = FailureKind::kMalformed,
                               .latency_ms = r->latency_ms,
                               .attempts = r->attempts});
    candidates.push_back(std::move(c));
  }
  job->aggregate_replies = std::move(replies);
  (void)fanout_.submit([this, job, candidates = std::move(candidates)]() mutable {
    job->guarded([&] {
      if (Clock::now() >= job->deadline) {  // no time left to score: the select-mode answer
        for (size_t j = 0; j < candidates.size(); ++j)
          if (candidates[j]) {
            candidates[j].reset();
            job->aggregate_replies[j] = failure(BackendError{
                .message = "request_timeout_ms passed before the candidates were scored",
                .timed_out = true,
                .kind = FailureKind::kTimeout});
          }
      }
      job->aggregation->take(
          std::move(candidates),
          has_tool_calls(job->rounds->result().answers) ? AnswerKind::kCode : job->task_kind,
          *job->view->bank.embedder);
      finish(*job);
    });
  });
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
      {"skipped", a.asked() ? json() : json(to_string(a.skipped))},
      {"fallback", a.fell_back()
                       ? json("no aggregator call gave a usable candidate: the select-mode answer")
                       : json()}};
  if (out.cost_usd) out.trace["cost_usd"]["total"] = *out.cost_usd;
}

}  // namespace smacs
