#include "prior/builder.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "selection/select.h"

namespace smacs {

namespace {

struct Job {
  int64_t question_id;
  size_t question;  // index into the questions
};

nlohmann::json chat_request(const std::string& question) {
  return {{"messages", nlohmann::json::array({{{"role", "user"}, {"content", question}}})},
          {"temperature", 0}};
}

// Asks one model one question, grades the answer and stores it. Returns why it could not
// (the model failed, or grading threw), or nullopt when the result is stored.
std::optional<std::string> ask_grade_store(BankFile& bank, const Record& q, AnswerKind grader,
                                           const Job& job, int64_t model_id,
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
    bank.put_result(job.question_id, model_id, row);
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
  for (const auto& q : questions) question_ids.push_back(bank.add_question(q));
  const auto present = bank.results_present();

  BuildReport report;
  std::vector<std::vector<Job>> jobs(models.size());
  std::vector<int64_t> model_ids;
  for (size_t m = 0; m < models.size(); ++m) {
    model_ids.push_back(bank.add_model(models[m].backend->name()));
    for (size_t i = 0; i < questions.size(); ++i) {
      if (present.count({question_ids[i], model_ids[m]}))
        ++report.skipped;
      else
        jobs[m].push_back({question_ids[i], i});
    }
  }
  size_t total = 0;
  for (const auto& j : jobs) total += j.size();
  std::atomic<size_t> done{0}, stored{0}, failed{0};
  std::mutex errors_mutex;
  std::vector<std::thread> workers;
  std::vector<std::unique_ptr<std::atomic<size_t>>> next;
  for (size_t m = 0; m < models.size(); ++m)
    next.push_back(std::make_unique<std::atomic<size_t>>(0));
  for (size_t m = 0; m < models.size(); ++m)
    for (size_t w = 0; w < std::max<size_t>(1, models[m].concurrency); ++w)
      workers.emplace_back([&, m] {
        for (size_t k; (k = (*next[m])++) < jobs[m].size();) {
          const Job& job = jobs[m][k];
          const auto error = ask_grade_store(bank, questions[job.question], graders[job.question],
                                             job, model_ids[m], models[m], options);
          ++(error ? failed : stored);
          if (error) {
            std::lock_guard lock(errors_mutex);
            if (report.first_errors.size() < 5) report.first_errors.push_back(*error);
          }
          const size_t d = ++done;
          if (progress) progress(d, total);
        }
      });
  for (auto& w : workers) w.join();
  report.asked = total;
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
