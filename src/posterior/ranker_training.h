// Fitting the answer ranker (ranker.h) on a bank's judged free-text answers: each bank
// question of a text or code task gives its k strongest pool models' answers (by the model's
// mean on that task, the prior the ranker will see) with their judged scores.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "bank/prior_bank.h"
#include "posterior/ranker.h"

namespace smacs {

struct RankerTraining {
  std::vector<int> pool;                    // pool member -> bank column (-1: none)
  std::function<bool(uint32_t task)> text;  // whether a bank task's answers are free text/code
  size_t k = 6;                             // candidates per question
  size_t max_questions = 20000;             // the newest ones, on a large bank
};

// The ranker fitted on the bank rows `rows` (all rows when empty). Untrained (pairs == 0) when
// the bank holds no judged text.
AnswerRanker train_ranker(const PriorBank& bank, const RankerTraining& how,
                          const std::vector<uint32_t>& rows = {});

// Out-of-sample rankers for the bank's own questions (tuning's leave-one-out): the rows split
// in `folds` (seeded), each fold's ranker fitted on the other folds. Returns the rankers and,
// per row, which one scores it.
struct CrossFitted {
  std::vector<AnswerRanker> rankers;
  std::vector<uint8_t> fold_of_row;
};
CrossFitted cross_fit_rankers(const PriorBank& bank, const RankerTraining& how, size_t folds,
                              uint64_t seed);

}  // namespace smacs
