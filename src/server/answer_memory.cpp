// Remembered answers and the feedback rate (server/answer_memory.h).
#include "server/answer_memory.h"

#include <algorithm>

namespace smacs {

size_t AnswerMemory::weight(const std::string& id, const Answer& a, const std::string& owner) {
  constexpr size_t kPerString = 32;  // a std::string's own size, about
  size_t n = id.size() * 2 + a.question.size() + a.task.size() + a.chosen.size() +
             a.aggregator.size() + owner.size() + 9 * kPerString;
  for (const auto& m : a.answered) n += m.size() + kPerString;
  return n;
}

void AnswerMemory::remember(const std::string& id, const std::string& owner, Answer answer) {
  const size_t bytes = weight(id, answer, owner);
  std::lock_guard lock(mutex_);
  memory_.put(id, owner, std::move(answer), bytes);
  metrics_.set_remembered_bytes(memory_.bytes());
}

void AnswerMemory::put_back(const std::string& id, const std::string& owner, Answer answer) {
  remember(id, owner, std::move(answer));
}

std::optional<ApiError> AnswerMemory::over_rate(const std::string& owner) {
  const auto now = Clock::now();
  const double burst = 2 * per_second_;
  auto [it, fresh] = rate_.try_emplace(owner, Bucket{burst, now});
  Bucket& b = it->second;
  b.tokens = std::min(burst, b.tokens + per_second_ * ms_between(b.at, now) / 1000);
  b.at = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return std::nullopt;
  }
  return ApiError{
      .status = 429,
      .type = "rate_limit_error",
      .message = "more than " + std::to_string(per_second_) + " feedbacks per second for this key",
      .code = "rate_limit_exceeded",
      .retry_after_s = (1 - b.tokens) / per_second_};
}

Result<AnswerMemory::Scored, ApiError> AnswerMemory::take(const std::string& id,
                                                          const std::string& named,
                                                          const std::string& owner) {
  std::lock_guard lock(mutex_);
  if (auto limited = over_rate(owner)) return failure(std::move(*limited));
  const Answer* a = memory_.find(id, owner);
  if (!a)  // another key's answer is reported as unknown: ids are not to be probed
    return failure(ApiError{
        .status = 404,
        .type = "invalid_request_error",
        .message = "no recent SMACS answer has the id '" + id + "' (or it was scored already)",
        .param = "id",
        .code = "unknown_answer"});
  std::string column = named.empty() ? a->chosen : named;
  // The aggregated answer the client saw is scored in a column of its own: never a pool
  // model's result, so no reference's prior takes credit (or blame) for the aggregator's text.
  if (!a->aggregator.empty() &&
      (column == a->aggregator || column == aggregate_column(a->aggregator)))
    column = aggregate_column(a->aggregator);
  else if (std::find(a->answered.begin(), a->answered.end(), column) == a->answered.end())
    return failure(ApiError{.status = 400,
                            .type = "invalid_request_error",
                            .message = "'" + column + "' did not answer '" + id + "'",
                            .param = "model",
                            .code = "model_not_in_answer"});
  Scored scored{.answer = std::move(*memory_.take(id, owner)), .column = std::move(column)};
  metrics_.set_remembered_bytes(memory_.bytes());
  return scored;
}

}  // namespace smacs
