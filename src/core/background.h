// Work that must not take CPU from requests: a reload reading and indexing a whole bank
// (seconds at a million questions). On a busy 2-core machine a thread
// at the normal priority takes a core's fair share from the event loop and the backends' I/O
// thread; at the lowest priority it gets what they leave (Linux: per thread). Never a thread
// that holds a lock others wait for: starved under load, it would stall them (the view reaper
// at nice 19 held up a replica's bank follower for over 10 s in CI). The kernel's locks too:
// mapping a file MAP_POPULATE holds the process's memory map throughout (core/mapped_file.cpp).
#pragma once
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <exception>
#include <optional>
#include <thread>
#include <utility>

namespace smacs {

// Lowers the calling thread's CPU priority to the lowest nice value (19), for good: an
// unprivileged thread cannot raise it back, so call it only on threads made for background
// work. (SCHED_IDLE was measured too: reloads twice as long under load, and no better for the
// requests beside them.)
inline void lower_this_thread_priority() {
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 19);
}

// f() on a background thread of its own (lowest priority); the caller waits for its result,
// and what it throws is thrown here.
template <class F>
auto run_in_background(F&& f) -> decltype(f()) {
  std::optional<decltype(f())> result;
  std::exception_ptr error;
  std::thread worker([&] {
    lower_this_thread_priority();
    try {
      result.emplace(f());
    } catch (...) {
      error = std::current_exception();
    }
  });
  worker.join();
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

}  // namespace smacs
