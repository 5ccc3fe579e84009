// SMACS over live backends, as the gateway's HTTP front-end (server/gateway_server.h) sees it:
// a request answered by a job (server/request_job.h: plan, rounds, aggregate or escalate,
// finish), or passed through to one pool model; the bank it plans on, swapped by a reload and
// grown by feedback. Each idea is its own collaborator; this class only joins them:
//   BackendPool  the backends: fan-out, circuit breaker, pass-through (server/backend_pool.h)
//   BankViews    the bank requests see: reload, fold, follow (server/bank_view.h)
//   Feedback     answers remembered, scores folded into the bank (server/feedback.h)
#pragma once
#include <atomic>
#include <functional>
#include <memory>

#include "server/backend_pool.h"
#include "server/bank_view.h"
#include "server/feedback.h"
#include "server/request_job.h"

namespace smacs {

struct GatewayOptions {
  size_t fanout_threads = 128;  // threads for backends without async calls (in-process llama)
  std::string bank_file{};  // the bank feedback is written to: .sqlite or postgresql:// ("": none)
  // With a bank of data files: the SQLite journal feedback is written to, and that reloads
  // fold back in (load_bank_from's `journal`); "": memory only.
  std::string feedback_journal{};
  size_t remember_bytes = 64 << 20;   // the remembered answers' bound
  bool reload_rows_at_start = false;  // BankViews::keep_rows_for_reload at start
  double feedback_per_second = 100;   // per API key; bursts of twice that
  std::vector<Price> prices{};        // per backend, in pool order (missing: unknown)
  PoolRoles roles{};  // the escalation model, the aggregator, backends never selected
};

class Gateway {
 public:
  Gateway(PriorBank bank, SmacsParams params, std::vector<std::unique_ptr<Backend>> backends,
          Metrics& metrics, GatewayOptions options = {});

  // SMACS's answer (start_request_job): `done` once, on the thread of the last reply; 400
  // when every selected backend refused, 504 when each timed out, else 502 when none
  // answered (a budget too small for any model: 400). Throws smacs::Error only before asking
  // anyone (a question the embedder could not embed).
  void answer_async(std::shared_ptr<const ChatRequest> request, Deadline deadline, AnswerFn done,
                    AbandonFlag client_gone = nullptr);
  // Pass-through to pool member `j` (BackendPool::pass_through), plain or streamed.
  void pass_through(size_t j, std::shared_ptr<const ChatRequest> request, Deadline deadline,
                    std::function<void(BackendReply)> done, AbandonFlag client_gone = nullptr);
  void pass_through_stream(size_t j, std::shared_ptr<const ChatRequest> request, Deadline deadline,
                           Backend::StreamSink sink, std::function<void(BackendReply)> done,
                           AbandonFlag client_gone = nullptr);
  int backend_index(const std::string& name) const { return pool_.index(name); }  // -1: none
  std::vector<std::string> model_names() const;
  std::vector<std::string> cold_models() const;  // pool models without results in the bank

  // The bank (BankViews): swapped by a reload, requests in flight finishing on the old one;
  // the loading form holds feedback off while `load` reads the files and the journal.
  void reload(PriorBank bank) { views_.reload(std::move(bank)); }
  void reload(const std::function<PriorBank()>& load) { views_.reload(load); }
  // Rows for `load` to read into (BankViews::take_spare_rows; BankOptions::reuse_rows).
  std::shared_ptr<std::vector<Record>> take_spare_rows(std::chrono::milliseconds wait) {
    return views_.take_spare_rows(wait);
  }
  std::shared_ptr<const BankView> view() const { return views_.current(); }
  size_t bank_questions() const;
  // A followed bank's new questions (server/bank_follower.h), `scores` over `models`:
  // appended in place like feedback; the view then stands for `revision`.
  void add_followed(std::vector<Record> rows, const std::vector<std::string>& models,
                    uint64_t revision) {
    views_.fold_followed(std::move(rows), models, revision);
  }

  // Online feedback (Feedback): remember an answer by id, later fold a client's score for it.
  void remember(const std::string& id, const std::string& question, const GatewayAnswer& answer,
                const std::string& owner) {
    feedback_.remember(id, question, answer, owner);
  }
  Result<std::string, ApiError> feedback(const std::string& id, const std::string& model,
                                         float score, const std::string& owner) {
    return feedback_.score(id, model, score, owner);
  }

 private:
  SmacsParams params_;
  Metrics& metrics_;
  BackendPool pool_;
  BankViews views_;
  Feedback feedback_;
};

}  // namespace smacs
