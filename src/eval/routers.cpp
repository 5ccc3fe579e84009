// The trained routers beside SMACS in a report: trained on the evaluation's bank (inside each
// fold when cross-fitting), scored on its test rows.
#include "core/error.h"
#include "core/parallel.h"
#include "eval/evaluate.h"
#include "eval/folds.h"
#include "router/router.h"

namespace smacs {

namespace {

constexpr size_t kInnerFolds = 5;

// A router's scores of the pool members, from its scores of every bank column.
std::vector<double> of_pool(const std::vector<double>& by_column, const std::vector<int>& pool) {
  std::vector<double> out;
  for (int col : pool) out.push_back(col < 0 ? 0.0 : by_column[static_cast<size_t>(col)]);
  return out;
}

// Every bank row scored by a network trained on the other folds of the bank.
void cross_fit_network(RouterKind kind, const EvalInput& in, const std::vector<SparseVec>& vecs,
                       const RouterOptions& options, RouterColumn& out) {
  const PriorBank& bank = *in.bank;
  std::vector<std::vector<size_t>> fold_rows(kInnerFolds);
  for (size_t i = 0; i < bank.size(); ++i)
    fold_rows[fold_of(bank.data.records[i].id + "#" + std::to_string(i), kInnerFolds)].push_back(i);
  for (size_t f = 0; f < kInnerFolds; ++f) {
    std::vector<size_t> train;
    for (size_t g = 0; g < kInnerFolds; ++g)
      if (g != f) train.insert(train.end(), fold_rows[g].begin(), fold_rows[g].end());
    if (train.empty() || fold_rows[f].empty()) continue;
    const TrainedRouter r = train_router(kind, bank, options, train);
    out.train_seconds += r.train_seconds;
    out.fitted = r.fitted;
    for (size_t i : fold_rows[f]) out.scores[i] = of_pool(r.predict(vecs[i], kNoRow), in.pool_bank);
  }
}

}  // namespace

void add_routers(EvalInput& in, const std::vector<std::string>& names, bool leave_one_out,
                 uint64_t seed) {
  const PriorBank& bank = *in.bank;
  const size_t n = in.test->records.size();
  const std::vector<SparseVec>& vecs = in.vectors;  // prepare_eval's: not embedded again
  RouterOptions options;
  options.seed = seed;
  for (const auto& name : names) {
    const auto kind = parse_router_name(name);
    if (!kind) throw Error("unknown router '" + name + "' (router_knn, router_mlp or router_mf)");
    RouterColumn col;
    col.name = name;
    col.scores.assign(n, std::vector<double>(in.pool_bank.size(), 0.0));
    if (leave_one_out && *kind != RouterKind::kKnn) {
      cross_fit_network(*kind, in, vecs, options, col);
    } else {
      const TrainedRouter r = train_router(*kind, bank, options);
      col.train_seconds = r.train_seconds;
      col.fitted = r.fitted;
      parallel_for(n, [&](size_t i) {
        const uint32_t exclude = leave_one_out ? static_cast<uint32_t>(i) : kNoRow;
        col.scores[i] = of_pool(r.predict(vecs[i], exclude), in.pool_bank);
      });
    }
    in.routers.push_back(std::move(col));
  }
}

}  // namespace smacs
