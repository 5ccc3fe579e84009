// A progress bar on stderr, drawn only when stderr is a terminal. Thread-safe.
#pragma once
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

#include "bank/prior_bank.h"

namespace smacs {

class ProgressBar {
 public:
  explicit ProgressBar(std::string label) : label_(std::move(label)), enabled_(isatty(2)) {}
  ~ProgressBar() {
    if (drawn_) std::fputc('\n', stderr);
  }
  void update(size_t done, size_t total) {
    if (!enabled_ || total == 0) return;
    std::lock_guard lock(mutex_);
    const double frac = static_cast<double>(done) / static_cast<double>(total);
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double eta = frac > 0 ? elapsed * (1 - frac) / frac : 0;
    const int width = 30, filled = static_cast<int>(frac * width);
    std::fprintf(stderr, "\r%-18s [%s%s] %3d%% %zu/%zu  eta %.0fs ", label_.c_str(),
                 std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
                 static_cast<int>(frac * 100), done, total, eta);
    std::fflush(stderr);
    drawn_ = true;
  }
  auto callback() {
    return [this](size_t done, size_t total) { update(done, total); };
  }

 private:
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// Runs `load(options)` with an "embedding bank" bar attached when `options` embed with a
// pretrained model (the slow case); the bar ends before anything else is printed.
template <typename Load>
auto with_embedding_bar(BankOptions options, Load load) {
  ProgressBar bar("embedding bank");
  if (options.embedder) options.progress = bar.callback();
  return load(options);
}

}  // namespace smacs
