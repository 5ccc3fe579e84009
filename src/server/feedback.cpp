// Online feedback (beyond the paper): a client's score for an earlier answer becomes a new
// bank question with that model's result, so SMACS learns from use. The row is written to the
// bank file (or the journal) first, then appended to the bank in memory: no rebuild.
#include <algorithm>

#include "bank/bank_store.h"
#include "core/error.h"
#include "core/secrets.h"
#include "server/gateway.h"

namespace smacs {

void Gateway::remember(const std::string& id, const std::string& question,
                       const GatewayAnswer& answer, const std::string& owner) {
  answers_.remember(id, owner,
                    {.question = question,
                     .task = answer.task.empty() ? "feedback" : answer.task,
                     .chosen = answer.chosen,
                     .aggregator = answer.aggregator,
                     .answered = answer.answered});
}

Result<std::string, ApiError> Gateway::feedback(const std::string& id, const std::string& named,
                                                float score, const std::string& owner) {
  auto taken = answers_.take(id, named, owner);  // one score per answer
  if (!taken.ok()) return failure(taken.error());
  Record row;
  row.id = "feedback:" + id;
  row.task = taken->answer.task;
  row.question = taken->answer.question;
  const std::string model = taken->column;
  if (bank_file_) {  // durable first: the file (or journal) is what a reload reads
    try {
      bank_file_->add_scored_question(row, model, ResultRow{.score = score});
    } catch (const Error& e) {  // the bank's database is down: the client may come back
      answers_.put_back(id, owner, std::move(taken->answer));
      metrics_.count_model("feedback_refused", model);
      return failure(ApiError{.status = 503,
                              .type = "server_error",
                              .message = "the bank cannot take feedback now: " + scrub(e.what()),
                              .code = "bank_unavailable",
                              .retry_after_s = 5});
    }
  }
  // Into the bank in memory under the fold lock, which a reload holds while it reads: after a
  // reload, into the new view (a row it read already is skipped there).
  row.scores = {score};
  views_.fold({std::move(row)}, {model});
  return model;
}

void Gateway::add_followed(std::vector<Record> rows, const std::vector<std::string>& models,
                           uint64_t revision) {
  views_.fold_followed(std::move(rows), models, revision);
}

}  // namespace smacs
