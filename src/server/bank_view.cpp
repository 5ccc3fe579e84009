// The gateway's view of the bank (server/bank_view.h).
#include "server/bank_view.h"

#include <algorithm>
#include <utility>

#include "answers/extract.h"
#include "core/background.h"
#include "posterior/ranker_training.h"

namespace smacs {

BankViews::BankViews(PriorBank bank, std::vector<std::string> pool)
    : pool_(std::move(pool)), view_(make(std::move(bank))), reaper_([this](BankView& old) {
        auto rows = std::make_shared<std::vector<Record>>(std::move(old.bank.data.records));
        {
          std::lock_guard lock(spare_mutex_);
          std::swap(spare_rows_, rows);
          --retired_;
        }
        spare_kept_.notify_all();
        // `rows` now holds the older spare if no reload took it: freed here, on this thread.
      }) {}

std::shared_ptr<std::vector<Record>> BankViews::take_spare_rows(std::chrono::milliseconds wait) {
  std::unique_lock lock(spare_mutex_);
  spare_kept_.wait_for(lock, wait, [&] { return retired_ == 0; });
  return std::exchange(spare_rows_, nullptr);
}

void BankViews::keep_rows_for_reload() {
  auto rows = std::make_shared<std::vector<Record>>(current()->bank.data.records);
  std::lock_guard lock(spare_mutex_);
  spare_rows_ = std::move(rows);
}

std::shared_ptr<BankView> BankViews::make(PriorBank bank) const {
  auto v = std::make_shared<BankView>();
  v->bank = std::move(bank);
  for (const auto& name : pool_) v->pool.push_back(v->bank.data.model_index(name));
  const auto kinds = detect_task_kinds(v->bank.data.records);
  for (const auto& task : v->bank.tasks) v->task_kind.push_back(kinds.at(task));
  RankerTraining how{.pool = v->pool, .text = [v = v.get()](uint32_t task) {
                       return is_free_text(v->task_kind[task]);
                     }};
  v->ranker = train_ranker(v->bank, how);
  // Feedback rows it was read with: folded again (written before a reload read them, or
  // followed from a shared bank), they are skipped.
  for (const auto& r : v->bank.data.records)
    if (r.id.starts_with("feedback:")) v->appended.insert(r.id);
  return v;
}

std::shared_ptr<const BankView> BankViews::current() const { return writable(); }

std::shared_ptr<BankView> BankViews::writable() const {
  std::lock_guard lock(mutex_);
  return view_;
}

void BankViews::reload(PriorBank bank) {
  swap_in(make(std::move(bank)));  // built outside the lock: requests go on meanwhile
}

void BankViews::reload(const std::function<PriorBank()>& load) {
  std::lock_guard hold(fold_mutex_);
  // Read and indexed at the lowest CPU priority: requests keep their cores meanwhile.
  swap_in(run_in_background([&] { return make(load()); }));
}

void BankViews::swap_in(std::shared_ptr<BankView> next) {
  std::shared_ptr<BankView> old;
  {
    std::lock_guard lock(mutex_);
    old = std::exchange(view_, std::move(next));
  }
  {
    std::lock_guard lock(spare_mutex_);
    ++retired_;
  }
  reaper_.retire(std::move(old));  // freed off the request path once requests on it are done
}

void BankViews::fold(std::vector<Record> rows, const std::vector<std::string>& models) {
  std::lock_guard hold(fold_mutex_);
  fold_locked(std::move(rows), models);
}

void BankViews::fold_followed(std::vector<Record> rows, const std::vector<std::string>& models,
                              uint64_t revision) {
  std::lock_guard hold(fold_mutex_);
  fold_locked(std::move(rows), models);
  const std::shared_ptr<BankView> v = writable();
  std::unique_lock lock(v->mutex);
  if (auto& version = v->bank.version) version->revision = std::max(version->revision, revision);
}

void BankViews::fold_locked(std::vector<Record> rows, const std::vector<std::string>& models) {
  const std::shared_ptr<BankView> v = writable();
  for (Record& row : rows) {
    if (!v->appended.insert(row.id).second) continue;             // it came the other way already
    const SparseVec vec = v->bank.embedder->embed(row.question);  // before the writer's lock
    std::unique_lock lock(v->mutex);
    std::vector<float> scores(v->bank.data.models.size(), kMissing);
    for (size_t m = 0; m < models.size() && m < row.scores.size(); ++m) {
      if (is_missing(row.scores[m])) continue;
      int column = v->bank.data.model_index(models[m]);
      if (column < 0) {  // the first result of a model the bank did not know
        column = add_model_column(v->bank, models[m]);
        scores.push_back(kMissing);
        for (size_t j = 0; j < pool_.size(); ++j)
          if (pool_[j] == models[m]) v->pool[j] = column;
      }
      scores[static_cast<size_t>(column)] = row.scores[m];
    }
    row.scores = std::move(scores);
    const size_t tasks = v->bank.tasks.size();
    append_row(v->bank, std::move(row), vec);
    if (v->bank.tasks.size() > tasks) v->task_kind.push_back(AnswerKind::kText);
  }
}

}  // namespace smacs
