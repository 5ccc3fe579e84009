#include "server/metrics.h"

#include <sstream>

namespace smacs {

namespace {
const std::vector<double> kBounds = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30};

std::string label(const std::string& v) {  // escape for a Prometheus label value
  std::string out;
  for (char c : v)
    out += (c == '"' || c == '\\') ? std::string("\\") + c : c == '\n' ? "\\n" : std::string(1, c);
  return out;
}
}  // namespace

void Metrics::observe(Histogram& h, double seconds) {
  if (h.buckets.empty()) h.buckets.assign(kBounds.size(), 0);
  for (size_t i = 0; i < kBounds.size(); ++i)
    if (seconds <= kBounds[i]) ++h.buckets[i];
  h.sum += seconds;
  ++h.count;
}

void Metrics::count_request(const std::string& endpoint, int status, double seconds) {
  std::lock_guard lock(mutex_);
  ++requests_[{endpoint, status}];
  observe(request_latency_[endpoint], seconds);
}

void Metrics::count_backend(const std::string& backend, bool ok, double seconds) {
  std::lock_guard lock(mutex_);
  ++backend_calls_[{backend, ok}];
  observe(backend_latency_[backend], seconds);
}

void Metrics::count_model(const std::string& event, const std::string& model) {
  std::lock_guard lock(mutex_);
  ++model_events_[{event, model}];
}

void Metrics::count_cost(const std::string& model, double usd) {
  std::lock_guard lock(mutex_);
  cost_usd_[model] += usd;
}

void Metrics::count_rounds(size_t rounds, const std::string& stop) {
  std::lock_guard lock(mutex_);
  ++rounds_[{rounds, stop}];
}

std::string Metrics::render() const {
  std::lock_guard lock(mutex_);
  std::ostringstream out;
  auto histogram = [&](const char* name, const char* key,
                       const std::map<std::string, Histogram>& hs) {
    out << "# TYPE " << name << " histogram\n";
    for (const auto& [k, h] : hs) {
      for (size_t i = 0; i < kBounds.size(); ++i)
        out << name << "_bucket{" << key << "=\"" << label(k) << "\",le=\"" << kBounds[i] << "\"} "
            << h.buckets[i] << '\n';
      out << name << "_bucket{" << key << "=\"" << label(k) << "\",le=\"+Inf\"} " << h.count
          << '\n';
      out << name << "_sum{" << key << "=\"" << label(k) << "\"} " << h.sum << '\n';
      out << name << "_count{" << key << "=\"" << label(k) << "\"} " << h.count << '\n';
    }
  };
  out << "# TYPE smacs_requests_total counter\n";
  for (const auto& [k, n] : requests_)
    out << "smacs_requests_total{endpoint=\"" << label(k.first) << "\",code=\"" << k.second
        << "\"} " << n << '\n';
  histogram("smacs_request_duration_seconds", "endpoint", request_latency_);
  out << "# TYPE smacs_backend_requests_total counter\n";
  for (const auto& [k, n] : backend_calls_)
    out << "smacs_backend_requests_total{backend=\"" << label(k.first) << "\",outcome=\""
        << (k.second ? "ok" : "error") << "\"} " << n << '\n';
  histogram("smacs_backend_duration_seconds", "backend", backend_latency_);
  out << "# TYPE smacs_model_events_total counter\n";
  for (const auto& [k, n] : model_events_)
    out << "smacs_model_events_total{event=\"" << k.first << "\",model=\"" << label(k.second)
        << "\"} " << n << '\n';
  out << "# TYPE smacs_answer_rounds_total counter\n";
  for (const auto& [k, n] : rounds_)
    out << "smacs_answer_rounds_total{rounds=\"" << k.first << "\",stop=\"" << k.second << "\"} "
        << n << '\n';
  out << "# TYPE smacs_backend_cost_usd_total counter\n";
  for (const auto& [model, usd] : cost_usd_)
    out << "smacs_backend_cost_usd_total{model=\"" << label(model) << "\"} " << usd << '\n';
  return out.str();
}

}  // namespace smacs
