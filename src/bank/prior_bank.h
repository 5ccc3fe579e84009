// The prior bank: past questions with each model's measured score, embedded and indexed.
#pragma once
#include <memory>
#include <optional>

#include "core/progress.h"
#include "core/record.h"
#include "embedding/embedder.h"
#include "retrieval/index.h"

namespace smacs {

// Which bank and which state of it rows were read from: the id the bank got at creation and
// the revision every write bumps (bank_store.h).
struct BankVersion {
  std::string bank_id;
  uint64_t revision = 0;
};

struct PriorBank {
  Dataset data;                    // rows: question, task, per-model scores/responses
  std::vector<std::string> tasks;  // distinct task names
  std::vector<uint32_t> task_of;   // per row: index into tasks
  std::vector<float> global_mean;  // per model: mean score over the bank (kMissing if none)
  std::vector<std::vector<float>> task_mean;  // [task][model]
  std::vector<double> global_n;               // per model: scores behind global_mean
  std::vector<std::vector<double>> task_n;    // [task][model]: scores behind task_mean
  std::vector<float> global_cost;      // per model: mean recorded USD per answer (kMissing if none)
  std::shared_ptr<Embedder> embedder;  // embeds questions for retrieval
  std::shared_ptr<Embedder> pretrained;  // the embedder given to build_bank (null: TF-IDF fitted
                                         // on these rows); rebuilds of this bank pass it again
  IndexKind index_kind = IndexKind::kExact;
  std::unique_ptr<NeighborIndex> index;
  std::optional<BankVersion> version{};  // read from a bank store (nullopt: data files)

  size_t size() const { return data.records.size(); }
  int task_index(const std::string& task) const;  // -1 when the bank has no such task
};

struct BankOptions {
  IndexKind index = IndexKind::kExact;
  std::shared_ptr<Embedder> embedder;  // a pretrained embedder; null: TF-IDF fitted on the bank
  Progress progress;                   // per question embedded by a pretrained embedder
  // Rows of a bank no longer in use, for a snapshot's rows to be read into (bank/snapshot.h):
  // their row array, strings and scores are written over instead of fresh memory being taken.
  // The gateway's reloads pass the bank they replaced. Null: fresh memory.
  std::shared_ptr<std::vector<Record>> reuse_rows;
};

// Embeds and indexes every row and computes the means.
PriorBank build_bank(Dataset data, const BankOptions& options = {});

// The options that rebuild `bank` the same way (its index kind and pretrained embedder).
BankOptions options_of(const PriorBank& bank);

// Recomputes global_mean and task_mean (after rows or models changed).
void compute_bank_stats(PriorBank& bank);

// Online growth without a rebuild (gateway feedback): the caller keeps readers out meanwhile.
// A model column with no results yet (every row missing); returns its column. O(rows).
int add_model_column(PriorBank& bank, const std::string& name);
// Appends one row (scores sized like data.models; no costs), embedded by the bank's own
// embedder (`vec` = bank.embedder->embed(row.question), computed by the caller outside its
// lock): the means and the index are updated in place, so the cost is that of one row.
void append_row(PriorBank& bank, Record row, const SparseVec& vec);
// Room for a quarter more rows (at least 1024), so appends do not move a large bank's rows
// while readers wait (a million rows took 0.8 s); build_bank and load_snapshot leave it.
void reserve_headroom(PriorBank& bank);
size_t capacity_with_headroom(size_t rows);  // what reserve_headroom reserves for `rows`

// Model name -> bank column for each name; throws naming an unknown model.
std::vector<int> resolve_models(const PriorBank& bank, const std::vector<std::string>& names);

}  // namespace smacs
