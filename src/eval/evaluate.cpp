#include "eval/evaluate.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "core/parallel.h"
#include "embedding/memo_embedder.h"

namespace smacs {

namespace {

std::map<std::string, AnswerKind> detect_kinds(const Dataset& test,
                                               const std::map<std::string, AnswerKind>& overrides) {
  auto kinds = detect_task_kinds(test.records);
  for (auto& [task, kind] : kinds)
    if (auto it = overrides.find(task); it != overrides.end()) kind = it->second;
  return kinds;
}

// The judge's reference: a model with responses whose every recorded score is 0.5.
int find_length_reference(const Dataset& test) {
  for (size_t m = 0; m < test.models.size(); ++m) {
    size_t judged = 0, half = 0;
    for (const auto& r : test.records)
      if (!r.responses.empty() && !is_missing(r.scores[m])) {
        ++judged;
        half += r.scores[m] == 0.5f;
      }
    if (judged > 0 && half == judged) return static_cast<int>(m);
  }
  return -1;
}

}  // namespace

EvalInput prepare_eval(const PriorBank& bank, const Dataset& test, std::vector<std::string> pool,
                       const std::map<std::string, AnswerKind>& kind_overrides, size_t depth,
                       bool leave_one_out, const Progress& progress) {
  EvalInput in;
  in.bank = &bank;
  in.test = &test;
  if (pool.empty())
    for (const auto& m : test.models)
      if (bank.data.model_index(m) >= 0) pool.push_back(m);
  if (pool.empty()) throw Error("no model is in both the train and the test data");
  for (const auto& name : pool) {
    const int t = test.model_index(name);
    if (t < 0) throw Error("pool model '" + name + "' is not in the test data");
    in.pool_test.push_back(t);
  }
  in.pool_bank = resolve_models(bank, pool);
  in.pool_names = std::move(pool);
  in.kinds = detect_kinds(test, kind_overrides);
  in.cost_in_usd = std::any_of(test.records.begin(), test.records.end(),
                               [](const Record& r) { return !r.costs.empty(); });
  in.length_reference = find_length_reference(test);
  in.response_embedder = std::make_shared<MemoEmbedder>(bank.embedder);

  const size_t n = test.records.size();
  in.neighbors.resize(n);
  in.answers.resize(n);
  // All questions at once: a pretrained embedder batches them and its cache keeps them. The
  // progress runs over 2n steps: embedding, then retrieval.
  std::vector<std::string> questions;
  questions.reserve(n);
  for (const auto& r : test.records) questions.push_back(r.question);
  in.vectors = embed_in_chunks(*bank.embedder, questions, [&](size_t d, size_t) {
    if (progress) progress(d, 2 * n);
  });
  const auto& vecs = in.vectors;
  std::atomic<size_t> done{0};
  parallel_for(n, [&](size_t i) {
    const Record& r = test.records[i];
    const uint32_t exclude = leave_one_out ? static_cast<uint32_t>(i) : kNoRow;
    in.neighbors[i] = bank.index->search(vecs[i], depth, exclude);
    if (!r.responses.empty()) {
      const AnswerKind kind = in.kinds.at(r.task);
      for (int col : in.pool_test) in.answers[i].push_back(extract_answer(kind, r.responses[col]));
    }
    const size_t d = ++done;
    if (progress && (d % 256 == 0 || d == n)) progress(n + d, 2 * n);
  });
  return in;
}

AnswerRanker fit_bank_ranker(const PriorBank& bank, const std::vector<std::string>& pool,
                             const std::map<std::string, AnswerKind>& kind_overrides) {
  EvalInput in;  // what ranker_training reads: the bank, its pool and its kinds
  in.bank = &bank;
  in.pool_bank = pool.empty() ? resolve_models(bank, bank.data.models) : resolve_models(bank, pool);
  in.kinds = detect_kinds(bank.data, kind_overrides);
  return train_ranker(bank, ranker_training(in));
}

RankerTraining ranker_training(const EvalInput& in) {
  RankerTraining how;
  how.pool = in.pool_bank;
  how.text = [bank = in.bank, kinds = in.kinds](uint32_t task) {
    const auto it = kinds.find(bank->tasks[task]);
    return it != kinds.end() && is_free_text(it->second);
  };
  return how;
}

void add_cross_fitted_rankers(EvalInput& in, uint64_t seed) {
  CrossFitted fitted = cross_fit_rankers(*in.bank, ranker_training(in), 5, seed);
  in.rankers = std::move(fitted.rankers);
  in.ranker_of_row = std::move(fitted.fold_of_row);
}

void set_escalation(EvalInput& in, const std::string& model) {
  in.escalate = -1;
  if (model.empty()) return;
  in.escalate = in.test->model_index(model);
  if (in.escalate < 0) throw Error("--escalate-to: '" + model + "' is not in the test data");
}

}  // namespace smacs
