// SMACS over live backends: plan (RPS + dropping), query the selected models concurrently,
// choose by the hybrid posterior, and explain the decision in a `smacs` trace. The bank can be
// swapped while serving (reload) and grows from client feedback.
#pragma once
#include <atomic>
#include <functional>
#include <memory>

#include "api/openai_api.h"
#include "core/task_pool.h"
#include "generation/backend.h"
#include "pipeline/smacs.h"
#include "server/answer_memory.h"
#include "server/bank_view.h"
#include "server/circuit_breaker.h"
#include "server/metrics.h"

namespace smacs {

class BankFile;

struct GatewayAnswer {
  nlohmann::json reply;  // the chosen model's chat.completion (message, finish_reason, ...)
  std::string content;
  std::string chosen;      // pool name of the chosen model
  std::string aggregator;  // the backend that wrote the answer in aggregate mode, else ""
  std::string task;        // the bank task the neighbourhood voted for ("" with an empty bank)
  std::vector<std::string> answered;  // pool models that replied
  nlohmann::json trace;  // selected, dropped, replacements, proxy/posterior scores, latencies,
                         // rounds and why they stopped, escalation
  nlohmann::json usage;  // summed over the backends that answered
  std::optional<double> cost_usd;  // of every reply with a known price (nullopt: none known)
};

struct GatewayOptions {
  size_t fanout_threads = 128;  // threads for backends without async calls (in-process llama)
  std::string bank_file{};  // the bank feedback is written to: .sqlite or postgresql:// ("": none)
  // With a bank of data files: the SQLite journal feedback is written to, and that reloads
  // fold back in (load_bank_from's `journal`); "": memory only.
  std::string feedback_journal{};
  size_t remember_bytes = 64 << 20;  // the remembered answers' bound
  double feedback_per_second = 100;  // per API key; bursts of twice that
  std::vector<Price> prices{};       // per backend, in pool order (missing: unknown)
  std::string escalate_to{};  // a backend kept out of the rounds, asked when SMACS stays unsure
  // Aggregate mode: the backend that writes the candidates (a pool model, or one of
  // `unrouted`), and the backends never selected as references (dedicated aggregators).
  std::string aggregator{};
  std::vector<std::string> unrouted{};
};

class Gateway {
 public:
  Gateway(PriorBank bank, SmacsParams params, std::vector<std::unique_ptr<Backend>> backends,
          Metrics& metrics, GatewayOptions options = {});
  ~Gateway();

  // The chosen answer, handed to `done`; or, when no selected backend answered, why: 400 every
  // one refused the request, 504 every one timed out, else 502 (and a budget too small for any
  // model: 400). No thread waits for the backends: `done` is called once, on the thread of the
  // last reply (the I/O thread for HTTP backends; keep it short). Throws smacs::Error only
  // before asking anyone (a question the embedder could not embed).
  using AnswerFn = std::function<void(Result<GatewayAnswer, ApiError>)>;
  // `client_gone`, when given, turns true once the client has left: no further round,
  // escalation or aggregator call is made for it (the answer is then a 499).
  void answer_async(std::shared_ptr<const ChatRequest> request, Deadline deadline, AnswerFn done,
                    std::shared_ptr<const std::atomic<bool>> client_gone = nullptr);
  int backend_index(const std::string& name) const;  // -1 when not in the pool

  // Pass-through (server/pass_through.cpp): the request as it came, to pool member `j`,
  // inside the circuit breaker (an open circuit: a 503-like BackendError at once, kind
  // circuit_open) and without a thread waiting where the backend allows. `done` once.
  void pass_through(size_t j, std::shared_ptr<const ChatRequest> request, Deadline deadline,
                    std::function<void(BackendReply)> done);
  // The same streamed: the events go to `sink` (Backend::StreamSink) as they come.
  void pass_through_stream(size_t j, std::shared_ptr<const ChatRequest> request, Deadline deadline,
                           Backend::StreamSink sink, std::function<void(BackendReply)> done);
  std::vector<std::string> model_names() const;
  std::vector<std::string> cold_models() const;  // pool models without results in the bank

  void reload(PriorBank bank);  // swaps the bank in; requests in flight finish on the old one
  // Loads and swaps in a bank with feedback held off meanwhile, so none can land in the
  // bank being replaced after `load` has read the files (it must read the journal too).
  void reload(const std::function<PriorBank()>& load);
  std::shared_ptr<const BankView> view() const;  // read its bank under its mutex (shared)
  size_t bank_questions() const;

  // Online feedback: remember answers by id (server/answer_memory.h: at most remember_bytes
  // of them), then fold a client's score for one of them into the bank as a new question:
  // appended in place (no rebuild), written first to the bank file or journal.
  // `owner` is the API key that asked ("" when keys are off): only it may score the answer.
  void remember(const std::string& id, const std::string& question, const GatewayAnswer& answer,
                const std::string& owner);
  // `model` "" scores the model SMACS chose (an aggregated answer: aggregate_column(aggregator),
  // as does naming the aggregator); a model that answered scores its own reply. Returns the
  // bank column scored, or what was wrong with
  // the client's feedback (429 with Retry-After past feedback_per_second for its key).
  Result<std::string, ApiError> feedback(const std::string& id, const std::string& model,
                                         float score, const std::string& owner);

  // A followed bank's new questions (server/bank_follower.h), `scores` over `models`:
  // appended in place like feedback (those already here are skipped); the view then
  // stands for `revision`.
  void add_followed(std::vector<Record> rows, const std::vector<std::string>& models,
                    uint64_t revision);

 private:
  // Backend j's reply into the circuit breaker and the error metrics.
  void record_health(size_t j, const BackendReply& reply);
  // `done` wrapped to count a pass-through call to `j` and feed the breaker with its reply;
  // nullptr when j's circuit is open (`done` then has had the refusal, kind circuit_open).
  std::function<void(BackendReply)> through_breaker(size_t j,
                                                    std::function<void(BackendReply)> done);
  // One call to `j`: thread-free where the backend can, else on a fan-out worker.
  void call_backend(size_t j, const nlohmann::json& body, std::string_view fields,
                    Deadline deadline, std::function<void(BackendReply)> done);
  // RPS and dropping over the pool members whose circuit is closed (never the escalation
  // backend).
  // `question` is the request's retrieval key, embedded by the view's embedder.
  Plan plan_for(const BankView& view, const ChatRequest& request, const SparseVec& question) const;
  // What backend j is expected to cost for this request (USD): the neighbours' recorded cost,
  // else its price at the prompt's size and max_tokens (or 512) completion tokens.
  struct TokenGuess {  // a request's size, for prices: measured once per request
    double prompt = 0, completion = 0;
  };
  static TokenGuess guess_tokens(const ChatRequest& request);
  std::optional<double> expected_cost(size_t j, const Plan& plan, const TokenGuess& tokens) const;
  // Keeps the selected models whose expected costs fit the budget, in rank order.
  void fit_budget(Plan& plan, const TokenGuess& tokens, double budget) const;
  // Asks the given backends at once (HTTP ones without a thread waiting, others on pool
  // workers); records their health; `done` gets the replies in order, on the last one's thread.
  // One answer on its way (gateway.cpp): the request, the plan, the rounds so far, the
  // backends asked.
  struct Job;
  // What the request's budget leaves after the backends `job` asked so far (nullopt: no
  // budget).
  std::optional<double> budget_left(const Job& job) const;
  using RepliesFn = std::function<void(std::vector<BackendReply>)>;
  // `bodies` (and their upstream `fields`), when given, are what each member is sent instead
  // of the request; they must live as long as the job.
  void fan_out(std::vector<int> members, const std::shared_ptr<Job>& job, RepliesFn done,
               const std::vector<nlohmann::json>* bodies = nullptr,
               const std::vector<std::string>* fields = nullptr);
  // The decision as the client sees it: selection, proxy and posterior scores.
  nlohmann::json trace_of(const Plan& plan, const Rounds& rounds, const std::string& task) const;
  // SMACS's rounds over the plan's selected models (all at once unless adaptive), one fan-out
  // per round, then the escalation model when the posterior stays unsure, then `finish`.
  void next_round(const std::shared_ptr<Job>& job);
  void take_round(const std::shared_ptr<Job>& job, std::vector<BackendReply> replies);
  // Asks the escalation model (with a budget: when it fits what the rounds left of it); its
  // answer becomes the chosen one. False when it is not asked.
  bool escalate(const std::shared_ptr<Job>& job);
  // Aggregate mode's second round: the aggregator's N calls over subsets of the references,
  // then `finish`. False when it is skipped (adaptive and settled, or no reference answered).
  bool aggregate(const std::shared_ptr<Job>& job);
  // Their replies in: checked at once, scored on a worker, then `finish`.
  void take_candidates(const std::shared_ptr<Job>& job, std::vector<BackendReply> replies);
  // The aggregator's calls: metrics, usage and cost into `out`, its part of the trace.
  void account_aggregate(const Job& job, GatewayAnswer& out);
  void finish(Job& job);
  // Usage, cost, latency, errors and metrics of every reply, into `out` and its trace.
  void account(const std::vector<int>& asked, const std::vector<BackendReply>& replies,
               GatewayAnswer& out);

  SmacsParams params_;
  std::vector<std::unique_ptr<Backend>> backends_;  // in pool order
  std::vector<Price> prices_;                       // in pool order
  int escalate_ = -1;                               // pool position of escalate_to
  int aggregator_ = -1;                             // pool position of options.aggregator
  std::vector<bool> unrouted_;                      // in pool order: never selected
  Metrics& metrics_;
  TaskPool fanout_;
  CircuitBreaker health_;
  BankViews views_;       // the bank as requests see it: reloads, feedback and followed rows
  AnswerMemory answers_;  // remembered for feedback, and the feedback rate per key
  std::unique_ptr<BankFile> bank_file_;  // the bank file or the journal feedback goes to
};

}  // namespace smacs
