// Online feedback (beyond the paper): a client's score for an earlier answer becomes a new
// bank question with that model's result, so SMACS learns from use. The row is written to the
// bank file (or the journal) first, then appended to the bank in memory: no rebuild.
#include <algorithm>

#include "bank/bank_store.h"
#include "core/error.h"
#include "core/secrets.h"
#include "server/gateway.h"

namespace smacs {

size_t Gateway::weight(const std::string& id, const Remembered& r, const std::string& owner) {
  constexpr size_t kPerString = 32;  // a std::string's own size, about
  size_t n = id.size() * 2 + r.question.size() + r.task.size() + r.chosen.size() +
             r.aggregator.size() + owner.size() + 9 * kPerString;
  for (const auto& a : r.answered) n += a.size() + kPerString;
  return n;
}

void Gateway::remember(const std::string& id, const std::string& question,
                       const GatewayAnswer& answer, const std::string& owner) {
  Remembered r{.question = question,
               .task = answer.task.empty() ? "feedback" : answer.task,
               .chosen = answer.chosen,
               .aggregator = answer.aggregator,
               .answered = answer.answered};
  const size_t bytes = weight(id, r, owner);
  std::lock_guard lock(remember_mutex_);
  remembered_.put(id, owner, std::move(r), bytes);
  metrics_.set_remembered_bytes(remembered_.bytes());
}

std::optional<ApiError> Gateway::over_feedback_rate(const std::string& owner) {
  const auto now = Clock::now();
  const double burst = 2 * feedback_per_second_;
  auto [it, fresh] = feedback_rate_.try_emplace(owner, Bucket{burst, now});
  Bucket& b = it->second;
  b.tokens = std::min(burst, b.tokens + feedback_per_second_ * ms_between(b.at, now) / 1000);
  b.at = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return std::nullopt;
  }
  return ApiError{.status = 429,
                  .type = "rate_limit_error",
                  .message = "more than " + std::to_string(feedback_per_second_) +
                             " feedbacks per second for this key",
                  .code = "rate_limit_exceeded",
                  .retry_after_s = (1 - b.tokens) / feedback_per_second_};
}

Result<std::string, ApiError> Gateway::feedback(const std::string& id, const std::string& named,
                                                float score, const std::string& owner) {
  std::unique_lock lock(remember_mutex_);
  if (auto limited = over_feedback_rate(owner)) return failure(std::move(*limited));
  const Remembered* r = remembered_.find(id, owner);
  if (!r)  // another key's answer is reported as unknown: ids are not to be probed
    return failure(ApiError{
        .status = 404,
        .type = "invalid_request_error",
        .message = "no recent SMACS answer has the id '" + id + "' (or it was scored already)",
        .param = "id",
        .code = "unknown_answer"});
  std::string model = named.empty() ? r->chosen : named;
  // The aggregated answer the client saw is scored in a column of its own: never a pool
  // model's result, so no reference's prior takes credit (or blame) for the aggregator's text.
  if (!r->aggregator.empty() &&
      (model == r->aggregator || model == aggregate_column(r->aggregator)))
    model = aggregate_column(r->aggregator);
  else if (std::find(r->answered.begin(), r->answered.end(), model) == r->answered.end())
    return failure(ApiError{.status = 400,
                            .type = "invalid_request_error",
                            .message = "'" + model + "' did not answer '" + id + "'",
                            .param = "model",
                            .code = "model_not_in_answer"});
  Record row;
  row.id = "feedback:" + id;
  row.task = r->task;
  row.question = r->question;
  // One score per answer: taken out now, put back if the bank cannot take it.
  Remembered taken = *remembered_.take(id, owner);
  metrics_.set_remembered_bytes(remembered_.bytes());
  if (bank_file_) {  // durable first: the file (or journal) is what a reload reads
    // Outside the lock: a database that is slow to refuse must not hold up remember(), which
    // every answer calls.
    lock.unlock();
    try {
      bank_file_->add_scored_question(row, model, ResultRow{.score = score});
    } catch (const Error& e) {  // the bank's database is down: the client may come back
      lock.lock();
      remembered_.put(id, owner, taken, weight(id, taken, owner));
      metrics_.set_remembered_bytes(remembered_.bytes());
      metrics_.count_model("feedback_refused", model);
      return failure(ApiError{.status = 503,
                              .type = "server_error",
                              .message = "the bank cannot take feedback now: " + scrub(e.what()),
                              .code = "bank_unavailable",
                              .retry_after_s = 5});
    }
  }
  if (lock.owns_lock()) lock.unlock();
  // Into the bank in memory under the fold lock, which a reload holds while it reads: after a
  // reload, into the new view (a row it read already is skipped there).
  std::lock_guard fold(feedback_mutex_);
  row.scores = {score};
  fold_rows({std::move(row)}, {model});
  return model;
}

void Gateway::add_followed(std::vector<Record> rows, const std::vector<std::string>& models,
                           uint64_t revision) {
  std::lock_guard hold(feedback_mutex_);
  fold_rows(std::move(rows), models);
  const std::shared_ptr<BankView> v = writable_view();
  std::unique_lock lock(v->mutex);
  if (auto& version = v->bank.version) version->revision = std::max(version->revision, revision);
}

void Gateway::fold_rows(std::vector<Record> rows, const std::vector<std::string>& models) {
  const std::shared_ptr<BankView> v = writable_view();
  for (Record& row : rows) {
    if (!v->appended.insert(row.id).second) continue;             // it came the other way already
    const SparseVec vec = v->bank.embedder->embed(row.question);  // before the writer's lock
    std::unique_lock lock(v->mutex);
    std::vector<float> scores(v->bank.data.models.size(), kMissing);
    for (size_t m = 0; m < models.size() && m < row.scores.size(); ++m) {
      if (is_missing(row.scores[m])) continue;
      int column = v->bank.data.model_index(models[m]);
      if (column < 0) {  // the first result of a model the bank did not know
        column = add_model_column(v->bank, models[m]);
        scores.push_back(kMissing);
        for (size_t j = 0; j < backends_.size(); ++j)
          if (backends_[j]->name() == models[m]) v->pool[j] = column;
      }
      scores[static_cast<size_t>(column)] = row.scores[m];
    }
    row.scores = std::move(scores);
    const size_t tasks = v->bank.tasks.size();
    append_row(v->bank, std::move(row), vec);
    if (v->bank.tasks.size() > tasks) v->task_kind.push_back(AnswerKind::kText);
  }
}

}  // namespace smacs
