// A call nobody waits for any more: the gateway sets the flag once the client that asked has
// left, and the backend calls made for that client stop (their connections closed, no retry),
// so a client that hangs up stops costing the backends anything.
#pragma once
#include <atomic>
#include <memory>

namespace smacs {

using AbandonFlag = std::shared_ptr<const std::atomic<bool>>;  // null: never abandoned

inline bool abandoned(const AbandonFlag& flag) { return flag && flag->load(); }

}  // namespace smacs
