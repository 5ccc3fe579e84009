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
  return bank;
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
