// The answers a gateway remembers so that a client can score one later (POST /v1/feedback):
// by answer id, readable only by the API key that asked, bounded in bytes; and how often each key
// may send feedback. Thread-safe: every SMACS answer is remembered on a backend I/O thread, so
// nothing here waits on anything slow.
#pragma once
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/openai_api.h"
#include "core/deadline.h"
#include "core/result.h"
#include "server/bounded_memory.h"
#include "server/metrics.h"

namespace smacs {

// The bank column a feedback on an answer `aggregator` wrote goes to: "aggregate:NAME".
inline std::string aggregate_column(const std::string& aggregator) {
  return "aggregate:" + aggregator;
}

class AnswerMemory {
 public:
  struct Answer {
    std::string question, task, chosen;
    std::string aggregator;  // it wrote the answer (aggregate mode), else ""
    std::vector<std::string> answered;
  };
  // An answer taken out for one feedback (one score per answer), and the bank column it scores.
  struct Scored {
    Answer answer;
    std::string column;
  };

  AnswerMemory(size_t max_bytes, double feedback_per_second, Metrics& metrics)
      : memory_(max_bytes, kMaxRememberedIds),
        per_second_(feedback_per_second),
        metrics_(metrics) {}

  void remember(const std::string& id, const std::string& owner, Answer answer);

  // The answer `id` taken out for `owner`'s feedback naming `model` ("": the chosen one; an
  // aggregated answer: its own column, also when the aggregator is named); or why not: 429
  // past feedback_per_second for the key (with Retry-After), 404 unknown (or another key's:
  // ids are not to be probed), 400 a model that did not answer.
  Result<Scored, ApiError> take(const std::string& id, const std::string& model,
                                const std::string& owner);
  // A taken answer back, when the bank could not take its score: the client may retry.
  void put_back(const std::string& id, const std::string& owner, Answer answer);

 private:
  static size_t weight(const std::string& id, const Answer& a, const std::string& owner);
  std::optional<ApiError> over_rate(const std::string& owner);  // holds mutex_

  std::mutex mutex_;
  BoundedMemory<Answer> memory_;
  struct Bucket {  // feedback_per_second per key: a token bucket
    double tokens;
    Clock::time_point at;
  };
  std::unordered_map<std::string, Bucket> rate_;
  double per_second_;
  Metrics& metrics_;
};

}  // namespace smacs
