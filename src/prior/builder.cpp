#include "prior/builder.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/parallel.h"
#include "selection/select.h"

namespace smacs {

namespace {

nlohmann::json chat_request(const std::string& question) {
  return {{"messages", nlohmann::json::array({{{"role", "user"}, {"content", question}}})},
          {"temperature", 0}};
}

// Asks one model one question, grades the answer and stores it. Returns why it could not
// (the model failed, or grading threw), or nullopt when the result is stored.
std::optional<std::string> ask_grade_store(BankFile& bank, const Record& q, AnswerKind grader,
                                           int64_t question_id, int64_t model_id,
                                           const ModelEndpoint& model,
                                           const BuildOptions& options) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(options.request_timeout_ms);
  const BackendReply reply = model.backend->complete(chat_request(q.question), deadline);
  if (!reply.ok()) return model.backend->name() + " on " + q.id + ": " + reply.error().message;
  ResultRow row;
  row.response = reply->content;
  row.latency_ms = reply->latency_ms;
  row.prompt_tokens = usage_tokens(reply->body, "prompt_tokens");
  row.completion_tokens = usage_tokens(reply->body, "completion_tokens");
  if (const auto cost = model.price.cost_of(reply->body)) row.cost = static_cast<float>(*cost);
  try {
    row.score = static_cast<float>(grade_response(q, grader, reply->content, options.code_limits));
    bank.put_result(question_id, model_id, row);
    return std::nullopt;
  } catch (const std::exception& e) {
    return q.id + ": " + e.what();
  }
}

// One build: the pairs it offered, and what its workers share while they claim, ask and store.
class BuildRun {
 public:
  BuildRun(BankFile& bank, const std::vector<Record>& questions, std::vector<ModelEndpoint>& models,
           const BuildOptions& options, const Progress& progress)
      : bank_(bank),
        questions_(questions),
        models_(models),
        options_(options),
        progress_(progress),
        graders_(default_graders(questions)),
        lease_(options.lease_ms > 0 ? options.lease_ms : options.request_timeout_ms + 30000) {}

  // Adds the questions and models to the bank and offers every pair it has no result for.
  void offer() {
    std::vector<int64_t> question_ids;
    for (const auto& q : questions_) {
      question_ids.push_back(bank_.add_question(q));
      index_of_.emplace(question_ids.back(), question_ids.size() - 1);
    }
    const auto present = bank_.results_present();
    std::vector<Pair> pending;
    for (const auto& model : models_) {
      model_ids_.push_back(bank_.add_model(model.backend->name()));
      for (const int64_t q : question_ids) {
        if (present.count({q, model_ids_.back()}))
          ++report_.skipped;
        else
          pending.emplace_back(q, model_ids_.back());
      }
    }
    bank_.offer(pending);
    total_ = pending.size();
  }

  // One worker per model and unit of its concurrency. The bank's database may fail under a
  // worker (a server gone): parallel_for throws that here, never from a thread (which would
  // end the process).
  BuildReport run() {
    std::vector<size_t> worker_model;
    for (size_t m = 0; m < models_.size(); ++m)
      worker_model.insert(worker_model.end(), std::max<size_t>(1, models_[m].concurrency), m);
    parallel_for(
        worker_model.size(), [&](size_t w) { work(worker_model[w]); }, worker_model.size());
    report_.asked = asked_;
    report_.stored = stored_;
    report_.failed = failed_;
    return report_;
  }

 private:
  using Pair = std::pair<int64_t, int64_t>;  // (question, model) in the bank

  // Claims model m's pairs one at a time (a claim held while the model thinks, no more) until
  // none is left that did not fail here.
  void work(size_t m) {
    for (;;) {
      const auto claimed = bank_.claim({model_ids_[m]}, 1, lease_);
      if (claimed.empty()) {
        // Others still hold claims (a dead builder's expire): wait for them, but not for
        // the pairs that failed here (the next run asks those again).
        if (!others_unfinished(model_ids_[m])) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min(lease_ / 4, 250)));
        continue;
      }
      if (failed_here(claimed[0])) {  // failed here once already: left to the next run
        bank_.release(claimed[0]);
        continue;
      }
      ask(claimed[0], m);
    }
  }

  void ask(const Pair& pair, size_t m) {
    const auto it = index_of_.find(pair.first);
    std::optional<Record> other;
    if (it == index_of_.end() && !(other = other_question(pair.first))) return;
    const Record& q = other ? *other : questions_[it->second];
    const AnswerKind grader = other ? default_graders({*other})[0] : graders_[it->second];
    ++asked_;
    const auto error =
        ask_grade_store(bank_, q, grader, pair.first, pair.second, models_[m], options_);
    ++(error ? failed_ : stored_);
    if (error) {
      bank_.release(pair);
      std::lock_guard lock(errors_mutex_);
      failed_pairs_.insert(pair);
      if (report_.first_errors.size() < 5) report_.first_errors.push_back(*error);
    }
    const size_t d = ++done_;
    if (progress_) progress_(std::min(d, total_), total_);
  }

  bool failed_here(const Pair& pair) {
    std::lock_guard lock(errors_mutex_);
    return failed_pairs_.count(pair) > 0;
  }

  bool others_unfinished(int64_t model) {
    for (const auto& pair : bank_.unfinished({model}))
      if (!failed_here(pair)) return true;
    return false;
  }

  // Another builder's question, claimed here when this one ran out of its own: the bank's
  // questions are read on the first such claim.
  std::optional<Record> other_question(int64_t id) {
    std::lock_guard lock(others_mutex_);
    if (!others_) {
      others_.emplace();
      for (auto& [qid, r] : bank_.questions()) others_->emplace(qid, std::move(r));
    }
    const auto it = others_->find(id);
    return it == others_->end() ? std::nullopt : std::optional(it->second);
  }

  BankFile& bank_;
  const std::vector<Record>& questions_;
  std::vector<ModelEndpoint>& models_;
  const BuildOptions& options_;
  const Progress& progress_;
  const std::vector<AnswerKind> graders_;
  const int lease_;
  std::vector<int64_t> model_ids_;
  std::unordered_map<int64_t, size_t> index_of_;  // bank id -> position in `questions`
  size_t total_ = 0;                              // pairs offered
  std::atomic<size_t> done_{0}, stored_{0}, failed_{0}, asked_{0};
  std::mutex errors_mutex_;  // guards failed_pairs_ and report_.first_errors
  std::set<Pair> failed_pairs_;
  BuildReport report_;
  std::mutex others_mutex_;
  std::optional<std::unordered_map<int64_t, Record>> others_;
};

}  // namespace

BuildReport build_prior(BankFile& bank, const std::vector<Record>& questions,
                        std::vector<ModelEndpoint>& models, const BuildOptions& options,
                        const Progress& progress) {
  BuildRun build(bank, questions, models, options, progress);
  build.offer();
  return build.run();
}

std::vector<Record> bank_questions(const BankFile& bank, size_t sample, uint64_t seed) {
  std::vector<Record> out;
  for (auto& [id, r] : bank.questions()) out.push_back(std::move(r));
  if (sample == 0 || sample >= out.size()) return out;
  SplitMix64 rng{seed};
  for (size_t i = 0; i < sample; ++i) {  // partial Fisher-Yates: a seeded, order-free sample
    const size_t j = i + static_cast<size_t>(rng.uniform() * static_cast<double>(out.size() - i));
    std::swap(out[i], out[j]);
  }
  out.resize(sample);
  return out;
}

}  // namespace smacs
