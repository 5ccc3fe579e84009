// Online feedback (beyond the paper): the gateway remembers its answers by id
// (server/answer_memory.h), and a client's score for one becomes a new bank question with that
// model's result, so SMACS learns from use. The row is written to the bank file (or the
// journal) first, then appended to the bank in memory (BankViews::fold): no rebuild.
#pragma once
#include <memory>
#include <string>

#include "server/answer_memory.h"
#include "server/bank_view.h"
#include "server/gateway_answer.h"

namespace smacs {

class BankFile;

class Feedback {
 public:
  // `bank_file` (.sqlite or postgresql://) takes the rows, else `journal` (a SQLite file that
  // reloads fold back in), else they stay in memory. Keeps at most `remember_bytes` of answers;
  // each API key may score `per_second` of them (bursts of twice that).
  Feedback(BankViews& views, const std::string& bank_file, const std::string& journal,
           size_t remember_bytes, double per_second, Metrics& metrics);
  ~Feedback();

  // `owner` is the API key that asked ("" when keys are off): only it may score the answer.
  void remember(const std::string& id, const std::string& question, const GatewayAnswer& answer,
                const std::string& owner);
  // `model` "" scores the model SMACS chose (an aggregated answer: aggregate_column(aggregator),
  // as does naming the aggregator); a model that answered scores its own reply. Returns the
  // bank column scored, or what was wrong with the client's feedback (429 with Retry-After
  // past the rate for its key; 503 when the bank's database cannot take it now).
  Result<std::string, ApiError> score(const std::string& id, const std::string& model, float score,
                                      const std::string& owner);

 private:
  BankViews& views_;
  AnswerMemory answers_;
  std::unique_ptr<BankFile> file_;  // the bank file or the journal, or none
  Metrics& metrics_;
};

}  // namespace smacs
