#include "server/gateway.h"

#include <mutex>

namespace smacs {

namespace {

std::vector<std::string> names_of(const BackendPool& pool) {
  std::vector<std::string> names;
  for (size_t j = 0; j < pool.size(); ++j) names.push_back(pool.name(j));
  return names;
}

}  // namespace

Gateway::Gateway(PriorBank bank, SmacsParams params, std::vector<std::unique_ptr<Backend>> backends,
                 Metrics& metrics, GatewayOptions options)
    : params_(params),
      metrics_(metrics),
      pool_(std::move(backends), std::move(options.prices), options.roles, params.mode, metrics,
            options.fanout_threads),
      views_(std::move(bank), names_of(pool_)),
      feedback_(views_, options.bank_file, options.feedback_journal, options.remember_bytes,
                options.feedback_per_second, metrics) {
  if (options.reload_rows_at_start) views_.keep_rows_for_reload();
}

void Gateway::answer_async(std::shared_ptr<const ChatRequest> request, Deadline deadline,
                           AnswerFn done, AbandonFlag client_gone) {
  start_request_job({.pool = pool_, .params = params_, .metrics = metrics_}, view(),
                    std::move(request), deadline, std::move(done), std::move(client_gone));
}

void Gateway::pass_through(size_t j, std::shared_ptr<const ChatRequest> request, Deadline deadline,
                           std::function<void(BackendReply)> done, AbandonFlag client_gone) {
  pool_.pass_through(j, std::move(request), deadline, std::move(done), std::move(client_gone));
}

void Gateway::pass_through_stream(size_t j, std::shared_ptr<const ChatRequest> request,
                                  Deadline deadline, Backend::StreamSink sink,
                                  std::function<void(BackendReply)> done, AbandonFlag client_gone) {
  pool_.pass_through_stream(j, std::move(request), deadline, std::move(sink), std::move(done),
                            std::move(client_gone));
}

std::vector<std::string> Gateway::model_names() const { return names_of(pool_); }

size_t Gateway::bank_questions() const {
  const auto v = view();
  std::shared_lock lock(v->mutex);
  return v->bank.size();
}

std::vector<std::string> Gateway::cold_models() const {
  const auto v = view();
  std::shared_lock lock(v->mutex);
  std::vector<std::string> out;
  for (size_t j = 0; j < pool_.size(); ++j)
    if (v->pool[j] < 0 && pool_.routed(j)) out.push_back(pool_.name(j));
  return out;
}

}  // namespace smacs
