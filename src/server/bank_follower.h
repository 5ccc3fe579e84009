// A replica following a shared bank (PostgreSQL): the bank stays in memory as it is served,
// and this thread keeps it in step. A NOTIFY wakes it, a revision poll every `poll_ms` covers
// lost notices; new questions (feedback from any replica) are appended in place, anything
// else (a model added or removed, a rebuilt bank) is reloaded whole in the background and
// swapped in. While the database is down the replica answers from memory; on recovery it
// catches up from the revision it has.
#pragma once
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "bank/bank_store.h"
#include "server/gateway.h"

namespace smacs {

struct FollowOptions {
  int poll_ms = 2000;   // the revision poll (notices usually come first)
  int grace_ms = 5000;  // unreachable for longer than this: not ready (GET /ready)
};

class BankFollower {
 public:
  // `location`: the bank the gateway's view was read from. Opens its own connection.
  BankFollower(Gateway& gateway, const std::string& location, FollowOptions options);
  ~BankFollower();
  BankFollower(const BankFollower&) = delete;
  BankFollower& operator=(const BankFollower&) = delete;

  // For GET /ready: the database answered within the grace period.
  bool ready() const;
  nlohmann::json status() const;  // {revision, reachable, last_contact_ms, rebuilds, appended}

 private:
  void loop();
  void catch_up();  // one round: what changed since the view's revision, applied

  Gateway& gateway_;
  FollowOptions options_;
  std::unique_ptr<BankFile> file_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> last_contact_ms_;  // steady clock, ms
  std::atomic<bool> reachable_{true};
  std::atomic<uint64_t> rebuilds_{0}, appended_{0};
  std::string last_error_;
  mutable std::mutex error_mutex_;
  std::thread thread_;
};

}  // namespace smacs
