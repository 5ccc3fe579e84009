// Passive health checks: a backend that keeps failing is skipped for a cool-down, so one dead
// endpoint does not cost every request a timeout. After the cool-down it is tried again (half
// open): one success closes the circuit, one more failure opens it again. Thread-safe.
#pragma once
#include <algorithm>
#include <mutex>
#include <vector>

#include "core/deadline.h"

namespace smacs {

class CircuitBreaker {
 public:
  CircuitBreaker(size_t backends, int trip_after = 5, int cooldown_ms = 10000)
      : state_(backends), trip_after_(trip_after), cooldown_(cooldown_ms) {}

  bool open(size_t backend) const {  // true: skip it for now
    std::lock_guard lock(mutex_);
    return Clock::now() < state_[backend].open_until;
  }
  // How long until an open circuit lets calls through again (0: it is closed).
  double retry_in_ms(size_t backend) const {
    std::lock_guard lock(mutex_);
    return std::max(0.0, ms_between(Clock::now(), state_[backend].open_until));
  }
  // A failure a retry elsewhere could fix counts; a client error (4xx) says nothing of health.
  // Returns true when this call opened the circuit: once per opening, however many calls that
  // were in flight fail after it.
  bool record(size_t backend, bool healthy) {
    std::lock_guard lock(mutex_);
    State& s = state_[backend];
    if (healthy) {
      s.failures = 0;
      return false;
    }
    if (++s.failures < trip_after_) return false;
    const auto now = Clock::now();
    if (now < s.open_until) return false;  // already open
    s.open_until = now + cooldown_;
    return true;
  }

 private:
  struct State {
    int failures = 0;
    Clock::time_point open_until{};
  };
  mutable std::mutex mutex_;
  std::vector<State> state_;
  int trip_after_;
  std::chrono::milliseconds cooldown_;
};

}  // namespace smacs
