#include "bank/prior_bank.h"

#include <algorithm>

#include "core/error.h"
#include "core/parallel.h"
#include "embedding/tfidf.h"

namespace smacs {

int PriorBank::task_index(const std::string& task) const {
  auto it = std::find(tasks.begin(), tasks.end(), task);
  return it == tasks.end() ? -1 : static_cast<int>(it - tasks.begin());
}

void compute_bank_stats(PriorBank& bank) {
  const size_t models = bank.data.models.size();
  bank.tasks.clear();
  bank.task_of.clear();
  for (const auto& r : bank.data.records) {
    int t = bank.task_index(r.task);
    if (t < 0) {
      t = static_cast<int>(bank.tasks.size());
      bank.tasks.push_back(r.task);
    }
    bank.task_of.push_back(static_cast<uint32_t>(t));
  }
  std::vector<double> g_sum(models, 0), g_n(models, 0), c_sum(models, 0), c_n(models, 0);
  std::vector<std::vector<double>> t_sum(bank.tasks.size(), std::vector<double>(models, 0));
  auto t_n = t_sum;
  for (size_t i = 0; i < bank.size(); ++i) {
    const auto& scores = bank.data.records[i].scores;
    const auto& costs = bank.data.records[i].costs;
    for (size_t m = 0; m < costs.size() && m < models; ++m) {
      if (is_missing(costs[m])) continue;
      c_sum[m] += costs[m];
      c_n[m] += 1;
    }
    for (size_t m = 0; m < models; ++m) {
      if (is_missing(scores[m])) continue;
      g_sum[m] += scores[m];
      g_n[m] += 1;
      t_sum[bank.task_of[i]][m] += scores[m];
      t_n[bank.task_of[i]][m] += 1;
    }
  }
  auto mean = [](double s, double n) { return n > 0 ? static_cast<float>(s / n) : kMissing; };
  bank.global_n = g_n;
  bank.task_n = t_n;
  bank.global_mean.assign(models, kMissing);
  bank.global_cost.assign(models, kMissing);
  for (size_t m = 0; m < models; ++m) {
    bank.global_mean[m] = mean(g_sum[m], g_n[m]);
    bank.global_cost[m] = mean(c_sum[m], c_n[m]);
  }
  bank.task_mean.assign(bank.tasks.size(), std::vector<float>(models, kMissing));
  for (size_t t = 0; t < bank.tasks.size(); ++t)
    for (size_t m = 0; m < models; ++m) bank.task_mean[t][m] = mean(t_sum[t][m], t_n[t][m]);
}

namespace {

std::vector<SparseVec> fit_tfidf(PriorBank& bank) {
  std::vector<TermCounts> counts(bank.size());
  parallel_for(bank.size(),
               [&](size_t i) { counts[i] = count_terms(bank.data.records[i].question); });
  auto tfidf = std::make_shared<TfidfEmbedder>(/*max_df=*/0.5);
  tfidf->fit_counts(counts);
  std::vector<SparseVec> vecs(bank.size());
  parallel_for(bank.size(), [&](size_t i) { vecs[i] = tfidf->weigh(counts[i]); });
  bank.embedder = std::move(tfidf);
  return vecs;
}

}  // namespace

PriorBank build_bank(Dataset data, const BankOptions& options) {
  PriorBank bank;
  bank.data = std::move(data);
  compute_bank_stats(bank);
  std::vector<SparseVec> vecs;
  if (options.embedder) {
    std::vector<std::string> texts;
    texts.reserve(bank.size());
    for (const auto& r : bank.data.records) texts.push_back(r.question);
    vecs = embed_in_chunks(*options.embedder, texts, options.progress);
    bank.embedder = bank.pretrained = options.embedder;
  } else {
    vecs = fit_tfidf(bank);
  }
  bank.index_kind = options.index;
  bank.index = make_index(options.index, vecs);
  reserve_headroom(bank);
  return bank;
}

int add_model_column(PriorBank& bank, const std::string& name) {
  if (const int m = bank.data.model_index(name); m >= 0) return m;
  bank.data.models.push_back(name);
  for (auto& r : bank.data.records) {
    r.scores.push_back(kMissing);
    if (!r.costs.empty()) r.costs.push_back(kMissing);
    if (!r.responses.empty()) r.responses.emplace_back();
  }
  bank.global_mean.push_back(kMissing);
  bank.global_cost.push_back(kMissing);
  bank.global_n.push_back(0);
  for (auto& t : bank.task_mean) t.push_back(kMissing);
  for (auto& t : bank.task_n) t.push_back(0);
  return static_cast<int>(bank.data.models.size()) - 1;
}

size_t capacity_with_headroom(size_t rows) { return rows + std::max<size_t>(1024, rows / 4); }

void reserve_headroom(PriorBank& bank) {
  const size_t room = capacity_with_headroom(bank.data.records.size());
  bank.data.records.reserve(room);
  bank.task_of.reserve(room);
}

void append_row(PriorBank& bank, Record row, const SparseVec& vec) {
  const size_t models = bank.data.models.size();
  row.scores.resize(models, kMissing);
  row.costs.clear();
  int t = bank.task_index(row.task);
  if (t < 0) {
    t = static_cast<int>(bank.tasks.size());
    bank.tasks.push_back(row.task);
    bank.task_mean.emplace_back(models, kMissing);
    bank.task_n.emplace_back(models, 0.0);
  }
  // A running mean: (mean * n + s) / (n + 1), from n = 0 (mean missing) on.
  auto fold = [](float& mean, double& n, float s) {
    mean = static_cast<float>(((n > 0 ? mean * n : 0.0) + s) / (n + 1));
    n += 1;
  };
  for (size_t m = 0; m < models; ++m) {
    if (is_missing(row.scores[m])) continue;
    fold(bank.global_mean[m], bank.global_n[m], row.scores[m]);
    fold(bank.task_mean[t][m], bank.task_n[t][m], row.scores[m]);
  }
  bank.task_of.push_back(static_cast<uint32_t>(t));
  bank.index->add(vec);
  bank.data.records.push_back(std::move(row));
}

BankOptions options_of(const PriorBank& bank) {
  BankOptions o;
  o.index = bank.index_kind;
  o.embedder = bank.pretrained;
  return o;
}

std::vector<int> resolve_models(const PriorBank& bank, const std::vector<std::string>& names) {
  std::vector<int> cols;
  for (const auto& name : names) {
    const int m = bank.data.model_index(name);
    if (m < 0) throw Error("model '" + name + "' is not in the prior bank");
    cols.push_back(m);
  }
  return cols;
}

}  // namespace smacs
