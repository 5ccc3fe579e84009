// Time limits: every call that may wait takes the point in time it must give up by.
#pragma once
#include <chrono>

namespace smacs {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

}  // namespace smacs
