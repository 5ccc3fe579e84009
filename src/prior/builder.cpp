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

}  // namespace

BuildReport build_prior(BankFile& bank, const std::vector<Record>& questions,
                        std::vector<ModelEndpoint>& models, const BuildOptions& options,
                        const Progress& progress) {
  const std::vector<AnswerKind> graders = default_graders(questions);
  std::vector<int64_t> question_ids;
  std::unordered_map<int64_t, size_t> index_of;  // bank id -> position in `questions`
  for (const auto& q : questions) {
    question_ids.push_back(bank.add_question(q));
    index_of.emplace(question_ids.back(), question_ids.size() - 1);
  }
  const auto present = bank.results_present();

  BuildReport report;
  std::vector<std::pair<int64_t, int64_t>> pending;  // (question, model) pairs to offer
  std::vector<int64_t> model_ids;
  for (size_t m = 0; m < models.size(); ++m) {
    model_ids.push_back(bank.add_model(models[m].backend->name()));
    for (size_t i = 0; i < questions.size(); ++i) {
      if (present.count({question_ids[i], model_ids[m]})) {
        ++report.skipped;
      } else {
        pending.emplace_back(question_ids[i], model_ids[m]);
      }
    }
  }
  bank.offer(pending);
  const int lease = options.lease_ms > 0 ? options.lease_ms : options.request_timeout_ms + 30000;
  const size_t total = pending.size();
  std::atomic<size_t> done{0}, stored{0}, failed{0}, asked{0};
  std::mutex errors_mutex;
  std::set<std::pair<int64_t, int64_t>> failed_pairs;  // under errors_mutex
  auto failed_here = [&](std::pair<int64_t, int64_t> pair) {
    std::lock_guard lock(errors_mutex);
    return failed_pairs.count(pair) > 0;
  };
  auto others_unfinished = [&](int64_t model) {
    for (const auto& pair : bank.unfinished({model}))
      if (!failed_here(pair)) return true;
    return false;
  };
  // Another builder's questions, claimed here when this one runs out of its own: read from
  // the bank on the first such claim.
  std::mutex others_mutex;
  std::optional<std::unordered_map<int64_t, Record>> others;
  auto other_question = [&](int64_t id) -> std::optional<Record> {
    std::lock_guard lock(others_mutex);
    if (!others) {
      others.emplace();
      for (auto& [qid, r] : bank.questions()) others->emplace(qid, std::move(r));
    }
    const auto it = others->find(id);
    return it == others->end() ? std::nullopt : std::optional(it->second);
  };
  auto work = [&](size_t m) {
    // One pair at a time: a claim held while the model thinks, no more.
    for (;;) {
      const auto claimed = bank.claim({model_ids[m]}, 1, lease);
      if (claimed.empty()) {
        // Others still hold claims (a dead builder's expire): wait for them, but not for
        // the pairs that failed here (the next run asks those again).
        if (!others_unfinished(model_ids[m])) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min(lease / 4, 250)));
        continue;
      }
      if (failed_here(claimed[0])) {  // failed here once already: left to the next run
        bank.release(claimed[0]);
        continue;
      }
      const int64_t id = claimed[0].first;
      const auto it = index_of.find(id);
      std::optional<Record> other;
      if (it == index_of.end() && !(other = other_question(id))) continue;
      const Record& q = other ? *other : questions[it->second];
      const AnswerKind grader = other ? default_graders({*other})[0] : graders[it->second];
      ++asked;
      const auto error = ask_grade_store(bank, q, grader, id, model_ids[m], models[m], options);
      ++(error ? failed : stored);
      if (error) {
        bank.release(claimed[0]);
        std::lock_guard lock(errors_mutex);
        failed_pairs.insert(claimed[0]);
        if (report.first_errors.size() < 5) report.first_errors.push_back(*error);
      }
      const size_t d = ++done;
      if (progress) progress(std::min(d, total), total);
    }
  };
  // One worker per model and unit of its concurrency. The bank's database may fail under a
  // worker (a server gone): parallel_for throws that here, never from a thread (which would
  // end the process).
  std::vector<size_t> worker_model;
  for (size_t m = 0; m < models.size(); ++m)
    worker_model.insert(worker_model.end(), std::max<size_t>(1, models[m].concurrency), m);
  parallel_for(
      worker_model.size(), [&](size_t w) { work(worker_model[w]); }, worker_model.size());
  report.asked = asked;
  report.stored = stored;
  report.failed = failed;
  return report;
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
