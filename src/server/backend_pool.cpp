#include "server/backend_pool.h"

#include <algorithm>
#include <future>
#include <mutex>
#include <optional>

#include "core/error.h"

namespace smacs {

BackendPool::BackendPool(std::vector<std::unique_ptr<Backend>> backends, std::vector<Price> prices,
                         const PoolRoles& roles, EpeMode mode, Metrics& metrics, size_t threads)
    : backends_(std::move(backends)),
      prices_(std::move(prices)),
      metrics_(metrics),
      workers_(threads),
      health_(backends_.size()) {
  prices_.resize(backends_.size());
  unrouted_.assign(backends_.size(), false);
  for (size_t j = 0; j < backends_.size(); ++j) {
    const std::string& name = backends_[j]->name();
    if (name == roles.escalate_to) escalate_ = static_cast<int>(j);
    if (name == roles.aggregator) aggregator_ = static_cast<int>(j);
    // The aggregator, a pool model or not, is never asked as a reference: its aggregated
    // answers would otherwise come back into the bank as its own results.
    unrouted_[j] = name == roles.escalate_to ||
                   (mode == EpeMode::kAggregate && name == roles.aggregator) ||
                   std::count(roles.unrouted.begin(), roles.unrouted.end(), name) > 0;
  }
  if (!roles.escalate_to.empty() && escalate_ < 0)
    throw Error("escalate_to '" + roles.escalate_to + "' is not a pool model");
  if (mode == EpeMode::kAggregate && aggregator_ < 0)
    throw Error("mode aggregate: aggregator '" + roles.aggregator + "' is not a backend");
}

int BackendPool::index(const std::string& name) const {
  for (size_t j = 0; j < backends_.size(); ++j)
    if (backends_[j]->name() == name) return static_cast<int>(j);
  return -1;
}

Eligible BackendPool::eligible() const {
  Eligible usable(backends_.size(), false);
  for (int pass = 0; pass < 2; ++pass) {  // every circuit open: try them all
    for (size_t j = 0; j < backends_.size(); ++j)
      usable[j] = !unrouted_[j] && (pass == 1 || !health_.open(j));
    if (std::find(usable.begin(), usable.end(), true) != usable.end()) break;
  }
  return usable;
}

namespace {
bool stopped_for_a_client_that_left(const BackendReply& reply) {
  return !reply.ok() && reply.error().kind == FailureKind::kAbandoned;
}
}  // namespace

void BackendPool::record_health(size_t j, const BackendReply& reply) {
  // Stopped because its client left: no failure of the backend's, nor a call it answered.
  if (stopped_for_a_client_that_left(reply))
    return metrics_.count_model("abandoned", backends_[j]->name());
  if (!reply.ok()) metrics_.count_backend_error(backends_[j]->name(), reply.error().kind);
  if (!reply.ok() && reply.error().kind == FailureKind::kCircuitOpen) return;  // not asked
  // A reply too long to use is still an answer: the backend is up.
  const bool answered =
      reply.ok() || reply.error().refused() || reply.error().kind == FailureKind::kTooLarge;
  if (health_.record(j, answered)) metrics_.count_model("circuit_opened", backends_[j]->name());
}

void BackendPool::call(size_t j, const nlohmann::json& body, std::string_view fields,
                       Deadline deadline, std::function<void(BackendReply)> done,
                       AbandonFlag abandon) {
  Backend* backend = backends_[j].get();
  if (backend->complete_async(body, fields, deadline, done, std::move(abandon))) return;
  (void)workers_.submit([backend, &body, deadline, done = std::move(done)] {
    done(backend->complete(body, deadline));
  });
}

void BackendPool::fan_out(std::vector<int> members, std::vector<const nlohmann::json*> bodies,
                          std::vector<std::string_view> fields, Deadline deadline, RepliesFn done,
                          AbandonFlag abandon) {
  if (members.empty()) return done({});  // nobody to wait for
  struct Gather {
    std::mutex mutex;
    std::vector<int> members;
    std::vector<std::optional<BackendReply>> slots;
    size_t missing;
    RepliesFn done;
  };
  auto gather = std::make_shared<Gather>();
  gather->members = std::move(members);
  gather->slots.resize(gather->members.size());
  gather->missing = gather->members.size();
  gather->done = std::move(done);
  // The last reply in hands the replies on, on its own thread.
  auto store = [this, gather](size_t i, BackendReply r) {
    {
      std::lock_guard lock(gather->mutex);
      gather->slots[i].emplace(std::move(r));
      if (--gather->missing > 0) return;
    }
    std::vector<BackendReply> replies;
    for (size_t j = 0; j < gather->members.size(); ++j) {
      record_health(gather->members[j], *gather->slots[j]);
      replies.push_back(std::move(*gather->slots[j]));
    }
    gather->done(std::move(replies));
  };
  for (size_t i = 0; i < gather->members.size(); ++i)
    call(
        gather->members[i], *bodies[i], fields[i], deadline,
        [store, i](BackendReply r) { store(i, std::move(r)); }, abandon);
}

std::function<void(BackendReply)> BackendPool::through_breaker(
    size_t j, std::function<void(BackendReply)> done) {
  if (health_.open(j)) {
    const double wait_ms = health_.retry_in_ms(j);
    BackendError refused{.status = 503,
                         .message =
                             "not asked: its circuit is open after repeated failures "
                             "(tried again in " +
                             std::to_string(static_cast<int>(wait_ms / 1000) + 1) + " s)",
                         .kind = FailureKind::kCircuitOpen,
                         .retry_after_s = wait_ms / 1000};
    record_health(j, failure(refused));
    done(failure(std::move(refused)));
    return nullptr;
  }
  return [this, j, done = std::move(done)](BackendReply r) {
    if (!stopped_for_a_client_that_left(r))
      metrics_.count_backend(backends_[j]->name(), r.ok(), latency_ms(r) / 1000.0);
    record_health(j, r);
    done(std::move(r));
  };
}

void BackendPool::pass_through(size_t j, std::shared_ptr<const ChatRequest> request,
                               Deadline deadline, std::function<void(BackendReply)> done,
                               AbandonFlag abandon) {
  auto finish = through_breaker(j, std::move(done));
  if (!finish) return;
  // The request lives until the reply: the backend reads it meanwhile.
  call(
      j, request->body, request->upstream_fields, deadline,
      [request, finish](BackendReply r) { finish(std::move(r)); }, std::move(abandon));
}

void BackendPool::pass_through_stream(size_t j, std::shared_ptr<const ChatRequest> request,
                                      Deadline deadline, Backend::StreamSink sink,
                                      std::function<void(BackendReply)> done, AbandonFlag abandon) {
  auto finish = through_breaker(j, std::move(done));
  if (!finish) return;
  Backend* backend = backends_[j].get();
  if (backend->stream_async(request->body, deadline, sink, finish, std::move(abandon))) return;
  // An in-process backend streams on a worker, waiting for each piece to go out.
  (void)workers_.submit([backend, request, deadline, sink, finish] {
    finish(backend->stream(request->body, deadline, [&](std::string_view piece) {
      auto written = std::make_shared<std::promise<bool>>();
      auto result = written->get_future();
      sink(std::string(piece), [written](bool ok) { written->set_value(ok); });
      return result.wait_until(deadline) == std::future_status::ready && result.get();
    }));
  });
}

}  // namespace smacs
