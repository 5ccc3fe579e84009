#include "eval/folds.h"

#include "core/error.h"

namespace smacs {

size_t fold_of(const std::string& id, size_t folds) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ull;
  return static_cast<size_t>(h % folds);
}

FoldSplit split_fold(const Dataset& data, size_t fold, size_t folds) {
  FoldSplit s{{data.models, {}}, {data.models, {}}};
  for (const auto& r : data.records)
    (fold_of(r.id, folds) == fold ? s.test : s.bank).records.push_back(r);
  return s;
}

EvalReport merge_fold_reports(const std::vector<EvalReport>& folds) {
  if (folds.empty()) throw Error("no folds to merge");
  EvalReport out = folds.front();
  out.tasks.clear();
  out.average.clear();
  std::map<std::string, TaskResult> tasks;
  std::map<std::string, std::map<std::string, double>> weight;  // task -> name -> questions
  for (const auto& rep : folds)
    for (const auto& t : rep.tasks) {
      auto [it, fresh] = tasks.emplace(t.task, t);
      TaskResult& m = it->second;
      if (fresh) {
        m.n = 0;
        m.accuracy.clear();
      }
      m.n += t.n;
      m.posterior_used = m.posterior_used || t.posterior_used;
      for (const auto& [name, acc] : t.accuracy) {
        m.accuracy[name] += acc * static_cast<double>(t.n);
        weight[t.task][name] += static_cast<double>(t.n);
      }
    }
  for (auto& [task, t] : tasks) {
    for (auto& [name, acc] : t.accuracy) acc /= weight[task][name];
    out.tasks.push_back(std::move(t));
  }
  std::map<std::string, std::pair<double, size_t>> avg;
  for (const auto& t : out.tasks)
    for (const auto& [name, acc] : t.accuracy) avg[name].first += acc, ++avg[name].second;
  for (const auto& [name, sum_n] : avg)
    if (sum_n.second == out.tasks.size())
      out.average[name] = sum_n.first / static_cast<double>(sum_n.second);
  return out;
}

}  // namespace smacs
