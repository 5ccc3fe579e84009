// Pass-through: a request that names one pool model goes to that model as it came, inside the
// circuit breaker like SMACS's calls, and with no thread waiting for an HTTP backend (a slow
// backend then holds a connection, not one of the handler threads).
#include <future>

#include "api/openai_api.h"
#include "server/gateway.h"

namespace smacs {

std::function<void(BackendReply)> Gateway::through_breaker(size_t j,
                                                           std::function<void(BackendReply)> done) {
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
    metrics_.count_backend(backends_[j]->name(), r.ok(), latency_ms(r) / 1000.0);
    record_health(j, r);
    done(std::move(r));
  };
}

void Gateway::pass_through(size_t j, std::shared_ptr<const ChatRequest> request, Deadline deadline,
                           std::function<void(BackendReply)> done) {
  auto finish = through_breaker(j, std::move(done));
  if (!finish) return;
  // The request lives until the reply: the backend reads it meanwhile.
  call_backend(j, request->body, request->upstream_fields, deadline,
               [request, finish](BackendReply r) { finish(std::move(r)); });
}

void Gateway::pass_through_stream(size_t j, std::shared_ptr<const ChatRequest> request,
                                  Deadline deadline, Backend::StreamSink sink,
                                  std::function<void(BackendReply)> done) {
  auto finish = through_breaker(j, std::move(done));
  if (!finish) return;
  Backend* backend = backends_[j].get();
  if (backend->stream_async(request->body, deadline, sink, finish)) return;
  // An in-process backend streams on a fan-out worker, waiting for each piece to go out.
  (void)fanout_.submit([backend, request, deadline, sink, finish] {
    finish(backend->stream(request->body, deadline, [&](std::string_view piece) {
      auto written = std::make_shared<std::promise<bool>>();
      auto result = written->get_future();
      sink(std::string(piece), [written](bool ok) { written->set_value(ok); });
      return result.wait_until(deadline) == std::future_status::ready && result.get();
    }));
  });
}

}  // namespace smacs
