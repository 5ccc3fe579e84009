// Where a bank swapped out by a reload is freed: on a thread of its own, once the last request
// that planned on it is done. Freeing a million-question bank takes hundreds of milliseconds,
// and its last holder would otherwise be whichever thread finishes that request: often the one
// I/O thread every backend call shares, which would stall every request meanwhile. Before a
// view is freed, `salvage` may take parts of it to use again (BankViews keeps its rows' memory
// for the next reload: server/bank_view.h).
#pragma once
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace smacs {

template <class View>
class ViewReaper {
 public:
  explicit ViewReaper(std::function<void(View&)> salvage = {})
      : salvage_(std::move(salvage)), thread_([this] { run(); }) {}
  ~ViewReaper() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  ViewReaper(const ViewReaper&) = delete;
  ViewReaper& operator=(const ViewReaper&) = delete;

  void retire(std::shared_ptr<View> old) {
    {
      std::lock_guard lock(mutex_);
      retired_.push_back(std::move(old));
    }
    wake_.notify_all();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (!stop_) {
      if (retired_.empty()) {
        wake_.wait(lock);
        continue;
      }
      std::vector<std::shared_ptr<View>> unused;  // held by nobody else now
      for (auto it = retired_.begin(); it != retired_.end();) {
        if (it->use_count() == 1) {
          unused.push_back(std::move(*it));
          it = retired_.erase(it);
        } else {
          ++it;
        }
      }
      lock.unlock();
      if (salvage_)
        for (const auto& view : unused) salvage_(*view);
      unused.clear();  // the slow part, outside the lock
      lock.lock();
      if (!retired_.empty()) wake_.wait_for(lock, std::chrono::milliseconds(50));
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::shared_ptr<View>> retired_;
  bool stop_ = false;
  const std::function<void(View&)> salvage_;
  std::thread thread_;  // last: started once the rest exists
};

}  // namespace smacs
