// Time limits: every call that may wait takes the point in time it must give up by.
#pragma once
#include <chrono>

namespace smacs {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

inline double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
inline double ms_since(Clock::time_point t) { return ms_between(t, Clock::now()); }

}  // namespace smacs
