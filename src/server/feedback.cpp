#include "server/feedback.h"

#include "bank/bank_store.h"
#include "core/error.h"
#include "core/secrets.h"

namespace smacs {

Feedback::Feedback(BankViews& views, const std::string& bank_file, const std::string& journal,
                   size_t remember_bytes, double per_second, Metrics& metrics)
    : views_(views), answers_(remember_bytes, per_second, metrics), metrics_(metrics) {
  if (!bank_file.empty())
    file_ = BankFile::open(bank_file, BankFile::Mode::kWrite);
  else if (!journal.empty())
    file_ = BankFile::open(journal, BankFile::Mode::kCreate);
}

Feedback::~Feedback() = default;

void Feedback::remember(const std::string& id, const std::string& question,
                        const GatewayAnswer& answer, const std::string& owner) {
  answers_.remember(id, owner,
                    {.question = question,
                     .task = answer.task.empty() ? "feedback" : answer.task,
                     .chosen = answer.chosen,
                     .aggregator = answer.aggregator,
                     .answered = answer.answered});
}

Result<std::string, ApiError> Feedback::score(const std::string& id, const std::string& named,
                                              float score, const std::string& owner) {
  auto taken = answers_.take(id, named, owner);  // one score per answer
  if (!taken.ok()) return failure(taken.error());
  Record row;
  row.id = "feedback:" + id;
  row.task = taken->answer.task;
  row.question = taken->answer.question;
  const std::string model = taken->column;
  if (file_) {  // durable first: the file (or journal) is what a reload reads
    try {
      file_->add_scored_question(row, model, ResultRow{.score = score});
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

}  // namespace smacs
