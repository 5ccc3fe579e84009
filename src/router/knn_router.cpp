// router_knn, and the routers' common entry point.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <span>

#include "core/error.h"
#include "core/parallel.h"
#include "router/router.h"

namespace smacs {

namespace {

constexpr size_t kKnnGrid[] = {5, 10, 20, 50, 100, 200};

// Each model's mean score over the first `k` neighbours; its bank mean where none has one.
std::vector<double> neighbour_means(const PriorBank& bank, std::span<const Neighbor> nb, size_t k) {
  const size_t models = bank.data.models.size();
  std::vector<double> sum(models, 0), n(models, 0), out(models, 0);
  for (size_t i = 0; i < std::min(k, nb.size()); ++i) {
    const Record& r = bank.data.records[nb[i].row];
    for (size_t m = 0; m < models; ++m)
      if (!is_missing(r.scores[m])) {
        sum[m] += r.scores[m];
        n[m] += 1;
      }
  }
  for (size_t m = 0; m < models; ++m)
    out[m] = n[m] > 0                           ? sum[m] / n[m]
             : !is_missing(bank.global_mean[m]) ? bank.global_mean[m]
                                                : 0.0;
  return out;
}

size_t argmax(const std::vector<double>& v) {
  return static_cast<size_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace

std::string router_name(RouterKind kind) {
  switch (kind) {
    case RouterKind::kKnn:
      return "router_knn";
    case RouterKind::kMlp:
      return "router_mlp";
    case RouterKind::kMf:
      return "router_mf";
  }
  return "router_knn";
}

std::optional<RouterKind> parse_router_name(const std::string& name) {
  for (RouterKind k : kRouterKinds)
    if (router_name(k) == name) return k;
  return std::nullopt;
}

// k by leave-one-out on the bank: each row routed by its neighbours (itself left out), scored
// by the routed model's recorded score; the smallest k of the best mean.
TrainedRouter train_knn_router(const PriorBank& bank) {
  const size_t deepest = kKnnGrid[std::size(kKnnGrid) - 1];
  const size_t rows = bank.size();
  std::vector<std::vector<double>> routed(rows, std::vector<double>(std::size(kKnnGrid), 0));
  // All at once: a pretrained embedder batches them, and its cache already holds them (one
  // call per row would reach an embeddings endpoint once per bank question).
  std::vector<std::string> questions;
  for (const auto& r : bank.data.records) questions.push_back(r.question);
  const std::vector<SparseVec> vecs = bank.embedder->embed_all(questions);
  parallel_for(rows, [&](size_t i) {
    const Record& r = bank.data.records[i];
    const auto nb = bank.index->search(vecs[i], deepest, static_cast<uint32_t>(i));
    for (size_t g = 0; g < std::size(kKnnGrid); ++g) {
      const float s = r.scores[argmax(neighbour_means(bank, nb, kKnnGrid[g]))];
      routed[i][g] = is_missing(s) ? 0.0 : s;
    }
  });
  size_t best = 0;
  std::vector<double> mean(std::size(kKnnGrid), 0);
  for (size_t g = 0; g < std::size(kKnnGrid); ++g) {
    for (const auto& row : routed) mean[g] += row[g];
    if (mean[g] > mean[best] + 1e-9) best = g;
  }
  const size_t k = kKnnGrid[best];
  TrainedRouter out;
  out.kind = RouterKind::kKnn;
  out.fitted = "k = " + std::to_string(k);
  out.predict = [&bank, k](const SparseVec& q, uint32_t exclude) {
    return neighbour_means(bank, bank.index->search(q, k, exclude), k);
  };
  return out;
}

TrainedRouter train_router(RouterKind kind, const PriorBank& bank, const RouterOptions& options,
                           const std::vector<size_t>& rows) {
  if (bank.size() == 0) throw Error("a router needs a bank with questions to train on");
  const auto start = std::chrono::steady_clock::now();
  TrainedRouter out = kind == RouterKind::kKnn ? train_knn_router(bank)
                                               : train_neural_router(kind, bank, options, rows);
  out.train_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace smacs
