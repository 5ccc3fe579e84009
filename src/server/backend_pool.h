// The pool's backends as the gateway calls them: one call or a fan-out to several, without a
// thread waiting where the backend allows (HTTP), each reply counted and fed to the circuit
// breaker; pass-through inside the breaker; and which backends SMACS may select (the
// escalation model and dedicated aggregators never are). Retries live in the HTTP backend.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/openai_api.h"
#include "core/task_pool.h"
#include "generation/backend.h"
#include "pipeline/smacs.h"
#include "server/circuit_breaker.h"
#include "server/metrics.h"

namespace smacs {

// The backends' roles beyond answering: by name, each "" or absent when not used.
struct PoolRoles {
  std::string escalate_to{};            // kept out of the rounds, asked when SMACS stays unsure
  std::string aggregator{};             // writes aggregate mode's candidates (selected: never)
  std::vector<std::string> unrouted{};  // never selected (dedicated aggregators)
};

class BackendPool {
 public:
  // `prices` in pool order (missing: unknown); `threads` run the calls of backends that
  // cannot answer without a thread waiting (in-process llama). Throws smacs::Error when a role
  // names no backend.
  BackendPool(std::vector<std::unique_ptr<Backend>> backends, std::vector<Price> prices,
              const PoolRoles& roles, EpeMode mode, Metrics& metrics, size_t threads);

  size_t size() const { return backends_.size(); }
  const std::string& name(size_t j) const { return backends_[j]->name(); }
  int index(const std::string& name) const;  // -1 when not in the pool
  const Price& price(size_t j) const { return prices_[j]; }
  bool routed(size_t j) const { return !unrouted_[j]; }  // SMACS may select it
  int escalation() const { return escalate_; }           // -1: none
  int aggregator() const { return aggregator_; }         // -1: none
  // The routed backends whose circuit is closed (all routed ones when every circuit is open).
  Eligible eligible() const;
  bool circuit_open(size_t j) const { return health_.open(j); }

  // Asks `members` at once: member i is sent bodies[i] (upstream fields[i]). `done` gets the
  // replies in order, on the last one's thread; the bodies must live until then. Once
  // `abandon` is set (the client left), the calls still out stop (kind abandoned).
  using RepliesFn = std::function<void(std::vector<BackendReply>)>;
  void fan_out(std::vector<int> members, std::vector<const nlohmann::json*> bodies,
               std::vector<std::string_view> fields, Deadline deadline, RepliesFn done,
               AbandonFlag abandon = nullptr);
  // Pass-through: the request as it came, to backend `j`, inside the circuit breaker (an open
  // circuit: a 503-like BackendError at once, kind circuit_open). `done` once.
  void pass_through(size_t j, std::shared_ptr<const ChatRequest> request, Deadline deadline,
                    std::function<void(BackendReply)> done, AbandonFlag abandon = nullptr);
  // The same streamed: the events go to `sink` (Backend::StreamSink) as they come.
  void pass_through_stream(size_t j, std::shared_ptr<const ChatRequest> request, Deadline deadline,
                           Backend::StreamSink sink, std::function<void(BackendReply)> done,
                           AbandonFlag abandon = nullptr);
  // Runs `work` on a worker: what must not hold up the I/O thread other requests share.
  void run_off_io_thread(std::function<void()> work) { (void)workers_.submit(std::move(work)); }

 private:
  void call(size_t j, const nlohmann::json& body, std::string_view fields, Deadline deadline,
            std::function<void(BackendReply)> done, AbandonFlag abandon);
  void record_health(size_t j, const BackendReply& reply);  // breaker and error metrics
  // `done` wrapped to count a pass-through call and feed the breaker its reply; nullptr when
  // j's circuit is open (`done` then has had the refusal).
  std::function<void(BackendReply)> through_breaker(size_t j,
                                                    std::function<void(BackendReply)> done);

  std::vector<std::unique_ptr<Backend>> backends_;  // in pool order
  std::vector<Price> prices_;                       // in pool order
  std::vector<bool> unrouted_;                      // in pool order
  int escalate_ = -1;
  int aggregator_ = -1;
  Metrics& metrics_;
  TaskPool workers_;
  CircuitBreaker health_;
};

}  // namespace smacs
