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

void Metrics::count_backend_error(const std::string& backend, FailureKind kind) {
  std::lock_guard lock(mutex_);
  ++backend_errors_[{backend, to_string(kind)}];
}

void Metrics::set_remembered_bytes(size_t bytes) {
  std::lock_guard lock(mutex_);
  remembered_bytes_ = bytes;
}

void Metrics::count_rounds(size_t rounds, const std::string& stop) {
  std::lock_guard lock(mutex_);
  ++rounds_[{rounds, stop}];
}

std::string Metrics::render() const {
  std::lock_guard lock(mutex_);
  std::ostringstream out;
  auto family = [&](const char* name, const char* type, const char* help) {
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  };
  auto histogram = [&](const char* name, const char* help, const char* key,
                       const std::map<std::string, Histogram>& hs) {
    family(name, "histogram", help);
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
  family("smacs_requests_total", "counter", "HTTP requests answered, by endpoint and status.");
  for (const auto& [k, n] : requests_)
    out << "smacs_requests_total{endpoint=\"" << label(k.first) << "\",code=\"" << k.second
        << "\"} " << n << '\n';
  histogram("smacs_request_duration_seconds", "Time from a request's header to its answer.",
            "endpoint", request_latency_);
  family("smacs_backend_requests_total", "counter", "Calls to pool backends, by outcome.");
  for (const auto& [k, n] : backend_calls_)
    out << "smacs_backend_requests_total{backend=\"" << label(k.first) << "\",outcome=\""
        << (k.second ? "ok" : "error") << "\"} " << n << '\n';
  histogram("smacs_backend_duration_seconds", "Wall time of one backend call, retries included.",
            "backend", backend_latency_);
  family("smacs_backend_errors_total", "counter",
         "Failed backend calls by what went wrong (timeout, connect, closed, status, "
         "rate_limited, malformed, invalid_utf8, busy, circuit_open, too_large).");
  for (const auto& [k, n] : backend_errors_)
    out << "smacs_backend_errors_total{backend=\"" << label(k.first) << "\",kind=\""
        << label(k.second) << "\"} " << n << '\n';
  family("smacs_model_events_total", "counter",
         "SMACS decisions per model: selected, dropped, chosen, escalated, circuit_opened; "
         "abandoned: a call stopped because its client left.");
  for (const auto& [k, n] : model_events_)
    out << "smacs_model_events_total{event=\"" << k.first << "\",model=\"" << label(k.second)
        << "\"} " << n << '\n';
  family("smacs_answer_rounds_total", "counter",
         "SMACS answers by rounds asked and why they stopped.");
  for (const auto& [k, n] : rounds_)
    out << "smacs_answer_rounds_total{rounds=\"" << k.first << "\",stop=\"" << k.second << "\"} "
        << n << '\n';
  family("smacs_backend_cost_usd_total", "counter", "What the backends' answers cost, in USD.");
  for (const auto& [model, usd] : cost_usd_)
    out << "smacs_backend_cost_usd_total{model=\"" << label(model) << "\"} " << usd << '\n';
  family("smacs_remembered_answer_bytes", "gauge",
         "Bytes held by the answers remembered for feedback.");
  out << "smacs_remembered_answer_bytes " << remembered_bytes_ << '\n';
  return out.str();
}

}  // namespace smacs
