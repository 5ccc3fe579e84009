// Trained routers: what a researcher would try instead of SMACS's retrieval prior. Each is
// fitted on a bank's rows (the questions, embedded by the bank's own embedder, and every
// model's scores) and maps a new question's embedding to each model's expected score:
//   router_knn  the mean score among the question's k nearest train questions (k fitted by
//               leave-one-out on the bank);
//   router_mlp  a one-hidden-layer network (ReLU) from the embedding to every model's
//               probability of being right, early-stopped on a held-out slice of the bank;
//   router_mf   RouteLLM's matrix factorisation for N models: a learned projection of the
//               question scored against a learned vector per model (a bilinear, low-rank model).
// Routing picks the model with the best expected score; as a prior (eval --prior router_mlp)
// the scores stand in for RPS's proxy scores and SMACS's posterior runs on top.
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "bank/prior_bank.h"

namespace smacs {

enum class RouterKind { kKnn, kMlp, kMf };
inline const std::vector<RouterKind> kRouterKinds = {RouterKind::kKnn, RouterKind::kMlp,
                                                     RouterKind::kMf};

std::string router_name(RouterKind kind);  // "router_knn", "router_mlp", "router_mf"
std::optional<RouterKind> parse_router_name(const std::string& name);

struct RouterOptions {
  uint64_t seed = 42;
  size_t mlp_hidden = 32;
  size_t mf_rank = 32;
  size_t max_inputs = 4096;  // input terms of router_mlp/router_mf: the most frequent ones
  size_t max_epochs = 200;
  size_t patience = 25;         // epochs without a better held-out loss before stopping
  double held_out = 0.1;        // share of the bank held out for early stopping
  double learning_rate = 0.01;  // Adam
  // L2 on the weights: each is tried, the one with the best held-out loss kept.
  std::vector<double> weight_decays = {1e-4, 1e-3, 1e-2};
};

// Expected score per bank model column (a model without train scores: its bank mean, or 0).
// `exclude`: a bank row the answer must not use (the question itself, in cross-validation on
// the bank; only router_knn reads the bank at answer time).
using RouterFn = std::function<std::vector<double>(const SparseVec& question, uint32_t exclude)>;

struct TrainedRouter {
  RouterKind kind = RouterKind::kKnn;
  RouterFn predict;
  double train_seconds = 0;
  std::string fitted;  // what training chose, for reports ("k = 20", "epoch 41 of 300")
};

// Fits a router on `bank`'s rows, or on `rows` of it when not empty (the bank must outlive
// router_knn's predict: it searches the bank's index; router_knn always uses every row and
// leaves one out through `exclude`). Seeded: the same bank and options give the same router.
TrainedRouter train_router(RouterKind kind, const PriorBank& bank,
                           const RouterOptions& options = {}, const std::vector<size_t>& rows = {});

// The two fitted by gradient descent (router/neural_router.cpp), and router_knn
// (router/knn_router.cpp).
TrainedRouter train_neural_router(RouterKind kind, const PriorBank& bank,
                                  const RouterOptions& options, const std::vector<size_t>& rows);
TrainedRouter train_knn_router(const PriorBank& bank);

}  // namespace smacs
