// Online feedback (beyond the paper): a client's score for an earlier answer becomes a new
// bank question with that model's result, so SMACS learns from use.
#include <algorithm>

#include "bank/bank_store.h"
#include "server/gateway.h"

namespace smacs {

void Gateway::remember(const std::string& id, const std::string& question,
                       const GatewayAnswer& answer, const std::string& owner) {
  std::lock_guard lock(feedback_mutex_);
  remembered_[id] = {question, answer.task.empty() ? "feedback" : answer.task, answer.chosen, owner,
                     answer.answered};
  remembered_order_.push_back(id);
  while (remembered_order_.size() > kRemembered) {
    remembered_.erase(remembered_order_.front());
    remembered_order_.pop_front();
  }
}

Result<std::string, ApiError> Gateway::feedback(const std::string& id, const std::string& named,
                                                float score, const std::string& owner) {
  std::lock_guard lock(feedback_mutex_);
  const auto it = remembered_.find(id);
  // Another key's answer is reported as unknown: ids are not to be probed.
  if (it == remembered_.end() || it->second.owner != owner)
    return failure(ApiError{
        .status = 404,
        .type = "invalid_request_error",
        .message = "no recent SMACS answer has the id '" + id + "' (or it was scored already)",
        .param = "id",
        .code = "unknown_answer"});
  const Remembered& r = it->second;
  const std::string model = named.empty() ? r.chosen : named;
  if (std::find(r.answered.begin(), r.answered.end(), model) == r.answered.end())
    return failure(ApiError{.status = 400,
                            .type = "invalid_request_error",
                            .message = "'" + model + "' did not answer '" + id + "'",
                            .param = "model",
                            .code = "model_not_in_answer"});

  Record row;
  row.id = "feedback:" + id;
  row.task = r.task;
  row.question = r.question;
  if (bank_file_) {  // durable first: the file is the bank's source of truth
    bank_file_->put_result(bank_file_->add_question(row), bank_file_->add_model(model),
                           ResultRow{.score = score});
  }
  const auto current = view();
  Dataset data = current->bank.data;
  Dataset one{{model}, {}};
  row.scores = {score};
  one.records.push_back(std::move(row));
  merge_into(data, std::move(one));
  reload(build_bank(std::move(data), options_of(current->bank)));
  remembered_.erase(it);  // one score per answer
  return model;
}

}  // namespace smacs
