#include "posterior/ranker_training.h"

#include <algorithm>
#include <numeric>
#include <random>

namespace smacs {

namespace {

// The question's candidates: the k pool members strongest on its task with a judged answer.
std::optional<JudgedQuestion> judged_question(const PriorBank& bank, const RankerTraining& how,
                                              uint32_t row) {
  const Record& r = bank.data.records[row];
  const auto& mean = bank.task_mean[bank.task_of[row]];
  std::vector<int> cols;
  for (int col : how.pool)
    if (col >= 0 && !is_missing(r.scores[col]) && !is_missing(mean[col]) &&
        static_cast<size_t>(col) < r.responses.size() && !r.responses[col].empty())
      cols.push_back(col);
  std::stable_sort(cols.begin(), cols.end(), [&](int a, int b) { return mean[a] > mean[b]; });
  if (cols.size() > how.k) cols.resize(how.k);
  if (cols.size() < 2) return std::nullopt;
  JudgedQuestion q;
  double total = 0;
  for (int col : cols) total += std::max(0.0f, mean[col]);
  for (int col : cols) {
    q.responses.push_back(r.responses[col]);
    q.prior_norm.push_back(total > 0 ? std::max(0.0f, mean[col]) / total
                                     : 1.0 / static_cast<double>(cols.size()));
    q.score.push_back(r.scores[col]);
  }
  return q;
}

}  // namespace

AnswerRanker train_ranker(const PriorBank& bank, const RankerTraining& how,
                          const std::vector<uint32_t>& rows) {
  std::vector<uint32_t> use = rows;
  if (use.empty()) {
    use.resize(bank.size());
    std::iota(use.begin(), use.end(), 0u);
  }
  std::vector<JudgedQuestion> questions;
  for (auto it = use.rbegin(); it != use.rend() && questions.size() < how.max_questions; ++it)
    if (how.text(bank.task_of[*it]))
      if (auto q = judged_question(bank, how, *it)) questions.push_back(std::move(*q));
  return fit_ranker(questions);
}

CrossFitted cross_fit_rankers(const PriorBank& bank, const RankerTraining& how, size_t folds,
                              uint64_t seed) {
  CrossFitted out;
  std::vector<uint32_t> order(bank.size());
  std::iota(order.begin(), order.end(), 0u);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
  out.fold_of_row.resize(bank.size());
  for (size_t i = 0; i < order.size(); ++i)
    out.fold_of_row[order[i]] = static_cast<uint8_t>(i % folds);
  for (size_t f = 0; f < folds; ++f) {
    std::vector<uint32_t> rest;
    for (uint32_t row = 0; row < bank.size(); ++row)
      if (out.fold_of_row[row] != f) rest.push_back(row);
    out.rankers.push_back(train_ranker(bank, how, rest));
  }
  return out;
}

}  // namespace smacs
