// Counters and latency histograms for GET /metrics (Prometheus text format). Thread-safe.
#pragma once
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/failure_kind.h"

namespace smacs {

class Metrics {
 public:
  void count_request(const std::string& endpoint, int status, double seconds);
  void count_backend(const std::string& backend, bool ok, double seconds);
  // A failed backend call by what went wrong (BackendError::kind).
  void count_backend_error(const std::string& backend, FailureKind kind);
  void set_remembered_bytes(size_t bytes);  // what the remembered answers hold now
  void count_model(const std::string& event, const std::string& model);  // selected|dropped|chosen
  void count_cost(const std::string& model, double usd);
  // One SMACS answer's rounds and why they stopped: settled | all_asked | budget.
  void count_rounds(size_t rounds, const std::string& stop);
  std::string render() const;

 private:
  struct Histogram {
    std::vector<uint64_t> buckets;  // cumulative counts are computed at render time
    double sum = 0;
    uint64_t count = 0;
  };
  void observe(Histogram& h, double seconds);
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> request_latency_;
  std::map<std::pair<std::string, bool>, uint64_t> backend_calls_;
  std::map<std::string, Histogram> backend_latency_;
  std::map<std::pair<std::string, std::string>, uint64_t> model_events_;
  std::map<std::pair<size_t, std::string>, uint64_t> rounds_;
  std::map<std::string, double> cost_usd_;
  std::map<std::pair<std::string, std::string>, uint64_t> backend_errors_;
  size_t remembered_bytes_ = 0;
};

}  // namespace smacs
