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

namespace {

// Sums of per-fold means weighted by question counts, and those counts, per name.
struct WeightedMeans {
  std::map<std::string, double> sum, weight;
  void add(const std::map<std::string, double>& means, double n) {
    for (const auto& [name, v] : means) {
      sum[name] += v * n;
      weight[name] += n;
    }
  }
  std::map<std::string, double> means() const {
    std::map<std::string, double> out;
    for (const auto& [name, s] : sum) out[name] = s / weight.at(name);
    return out;
  }
};

}  // namespace

EvalReport merge_fold_reports(const std::vector<EvalReport>& folds) {
  if (folds.empty()) throw Error("no folds to merge");
  EvalReport out = folds.front();
  out.tasks.clear();
  std::map<std::string, TaskResult> tasks;
  std::map<std::string, WeightedMeans> accuracy, cost, calls, length;  // per task
  for (const auto& rep : folds)
    for (const auto& t : rep.tasks) {
      TaskResult& m = tasks[t.task];
      m.task = t.task;
      m.kind = t.kind;
      const double n = static_cast<double>(t.n);
      m.n += t.n;
      m.posterior_used = m.posterior_used || t.posterior_used;
      m.rounds += t.rounds * n;
      m.escalated += t.escalated * n;
      if (t.references_settled >= 0)  // -1 until a fold has it
        m.references_settled = std::max(m.references_settled, 0.0) + t.references_settled * n;
      accuracy[t.task].add(t.accuracy, n);
      cost[t.task].add(t.cost, n);
      calls[t.task].add(t.calls, n);
      length[t.task].add(t.length, n);
      for (const auto& [name, judged] : t.judged)
        m.judged[name].insert(m.judged[name].end(), judged.begin(), judged.end());
    }
  for (auto& [task, t] : tasks) {
    t.accuracy = accuracy[task].means();
    t.cost = cost[task].means();
    t.calls = calls[task].means();
    t.length = length[task].means();
    set_length_controlled(t);
    const double n = static_cast<double>(std::max<size_t>(t.n, 1));
    t.rounds /= n;
    t.escalated /= n;
    if (t.references_settled >= 0) t.references_settled /= n;
    out.tasks.push_back(std::move(t));
  }
  out.router_seconds.clear();
  for (const auto& rep : folds)
    for (const auto& [name, s] : rep.router_seconds) out.router_seconds[name] += s;
  set_averages(out);
  return out;
}

}  // namespace smacs
