// The prior bank: past questions with each model's measured score, embedded and indexed.
#pragma once
#include <memory>

#include "core/record.h"
#include "embedding/tfidf.h"
#include "retrieval/index.h"

namespace smacs {

struct PriorBank {
  Dataset data;                    // rows: question, task, per-model scores/responses
  std::vector<std::string> tasks;  // distinct task names
  std::vector<uint32_t> task_of;   // per row: index into tasks
  std::vector<float> global_mean;  // per model: mean score over the bank (kMissing if none)
  std::vector<std::vector<float>> task_mean;  // [task][model]
  std::shared_ptr<Embedder> embedder;         // embeds questions for retrieval
  std::shared_ptr<Embedder> pretrained;  // the embedder given to build_bank (null: TF-IDF fitted
                                         // on these rows); rebuilds of this bank pass it again
  std::unique_ptr<NeighborIndex> index;

  size_t size() const { return data.records.size(); }
  int task_index(const std::string& task) const;  // -1 when the bank has no such task
};

// Embeds and indexes every row and computes the means. Without a `pretrained` embedder the
// built-in TF-IDF one is fitted on the bank's questions.
PriorBank build_bank(Dataset data, IndexKind kind = IndexKind::kExact,
                     std::shared_ptr<Embedder> pretrained = nullptr);

// Recomputes global_mean and task_mean (after rows or models changed).
void compute_bank_stats(PriorBank& bank);

// Model name -> bank column for each name; throws naming an unknown model.
std::vector<int> resolve_models(const PriorBank& bank, const std::vector<std::string>& names);

}  // namespace smacs
