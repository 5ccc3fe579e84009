// The bank as the gateway's requests see it: one view, swapped whole by a reload (requests in
// flight finish on the old one, which is freed off the request path) and grown in place by
// feedback and by a followed bank's new rows (appended under the view's writer lock; requests
// plan under its reader lock, a few microseconds each).
#pragma once
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "answers/extract.h"
#include "bank/prior_bank.h"
#include "posterior/ranker.h"
#include "server/view_reaper.h"

namespace smacs {

struct BankView {
  mutable std::shared_mutex mutex;
  PriorBank bank;
  std::vector<int> pool;              // pool member -> bank column (-1: no results yet)
  std::vector<AnswerKind> task_kind;  // per bank task
  AnswerRanker ranker;                // fitted on the bank's judged free text (posterior/ranker.h)
  // Ids of the rows appended since the bank was read (feedback, or a followed bank's new
  // questions): a row reaching this view both ways is appended once. Under the fold lock.
  std::unordered_set<std::string> appended;
};

// How long a reload waits for the requests still on the view the last reload replaced, so that
// it can read into that view's rows (BankViews::take_spare_rows) instead of fresh memory.
inline constexpr std::chrono::milliseconds kSpareRowsWait{2000};

class BankViews {
 public:
  // `pool`: the backends' names, in pool order (what BankView::pool maps).
  BankViews(PriorBank bank, std::vector<std::string> pool);

  std::shared_ptr<const BankView> current() const;  // read its bank under its mutex (shared)
  void reload(PriorBank bank);  // swaps the bank in; requests in flight finish on the old one
  // Loads and swaps in a bank with folding held off meanwhile, so no row can land in the bank
  // being replaced after `load` has read the files (it must read the journal too).
  void reload(const std::function<PriorBank()>& load);
  // Appends rows (scores over `models`) to the current view, but those it has already; a
  // model the bank did not know gets a column.
  void fold(std::vector<Record> rows, const std::vector<std::string>& models);
  // The rows of the last view a reload replaced, once no request used it any more (null if
  // none): a reload (/admin/reload, SIGHUP, a followed bank's rebuild) reads its bank into
  // them (BankOptions::reuse_rows), so it writes memory that is already the process's instead
  // of taking fresh memory. This keeps one bank's rows resident between reloads (a million
  // questions: about 440 MB) for reloads that do not stall the host (fresh memory is zeroed
  // page by page; on a VM each page can be a fault to the host during which the vCPU runs
  // nothing else). A reload right after another would find the view it replaced still held by
  // the requests that planned on it (a SMACS answer's backend calls, a few hundred ms): `wait`
  // bounds how long to wait for those requests to finish and the rows to be kept.
  std::shared_ptr<std::vector<Record>> take_spare_rows(
      std::chrono::milliseconds wait = std::chrono::milliseconds(0));
  // Keeps a copy of the current view's rows as the spare that take_spare_rows gives, so that
  // the first reload too reads into memory the process already has (`reload_rows_at_start`).
  // Copied on the caller's thread: call it at start, before requests come.
  void keep_rows_for_reload();
  // A followed bank's new rows, as fold; the view then stands for `revision`.
  void fold_followed(std::vector<Record> rows, const std::vector<std::string>& models,
                     uint64_t revision);

 private:
  std::shared_ptr<BankView> make(PriorBank bank) const;
  void swap_in(std::shared_ptr<BankView> next);  // the old view goes to the reaper
  std::shared_ptr<BankView> writable() const;
  void fold_locked(std::vector<Record> rows, const std::vector<std::string>& models);

  std::vector<std::string> pool_;
  mutable std::mutex mutex_;  // guards view_ (the pointer)
  std::shared_ptr<BankView> view_;
  std::mutex spare_mutex_;  // guards spare_rows_ and retired_
  std::condition_variable spare_kept_;
  std::shared_ptr<std::vector<Record>> spare_rows_;
  size_t retired_ = 0;           // views given to the reaper whose rows it has not kept yet
  ViewReaper<BankView> reaper_;  // where replaced views are freed (last: it uses the above)
  // Held while rows are folded in, and by a reload while it reads. Never by a request.
  std::mutex fold_mutex_;
};

}  // namespace smacs
