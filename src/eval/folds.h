// Cross-fitting, for benchmarks without a train split: the questions are split into K folds
// by a stable hash of their ids, each fold is answered by a bank built from the other K-1, and
// the per-fold reports are merged into one that covers every question exactly once.
#pragma once
#include <functional>

#include "eval/evaluate.h"

namespace smacs {

size_t fold_of(const std::string& id, size_t folds);  // FNV-1a of the id, modulo folds

// Fold f of `data`: the questions in it (test) and the rest (bank data).
struct FoldSplit {
  Dataset bank, test;
};
FoldSplit split_fold(const Dataset& data, size_t fold, size_t folds);

// One report from per-fold reports: per task, each fold weighted by its question count.
EvalReport merge_fold_reports(const std::vector<EvalReport>& folds);

}  // namespace smacs
