#include <httplib.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "core/error.h"
#include "generation/backend.h"

namespace smacs {

namespace {

struct ParsedUrl {
  std::string origin;  // scheme://host:port
  std::string path;    // base path without trailing slash, e.g. /v1
};

ParsedUrl parse_base_url(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos ||
      (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0))
    throw Error("base_url '" + url + "' must start with http:// or https://");
  const auto path_start = url.find('/', scheme_end + 3);
  ParsedUrl p{url.substr(0, path_start),
              path_start == std::string::npos ? "" : url.substr(path_start)};
  while (!p.path.empty() && p.path.back() == '/') p.path.pop_back();
  return p;
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

class HttpBackend : public Backend {
 public:
  explicit HttpBackend(HttpBackendConfig c)
      : config_(std::move(c)), url_(parse_base_url(config_.base_url)) {
    if (config_.model.empty()) config_.model = config_.name;
    if (config_.max_concurrency == 0)
      throw Error("backend " + config_.name + ": max_concurrency must be > 0");
  }

  const std::string& name() const override { return config_.name; }

  BackendReply complete(const nlohmann::json& request, Deadline deadline) override {
    const auto start = Clock::now();
    BackendReply reply;
    const std::string payload = upstream_payload(request);
    auto client = acquire(deadline);
    if (!client) {
      reply.error = "no free connection before the deadline (max_concurrency " +
                    std::to_string(config_.max_concurrency) + ")";
    }
    for (int attempt = 0; client && attempt <= config_.retries; ++attempt) {
      const double left_ms = ms_between(Clock::now(), deadline);
      if (left_ms <= 1) {
        reply.error = reply.error.empty() ? "deadline passed" : reply.error + "; deadline passed";
        break;
      }
      if (attempt > 0) {  // exponential backoff, never past the deadline
        const double wait = std::min<double>(config_.backoff_ms << (attempt - 1), left_ms - 1);
        std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(wait));
      }
      ++reply.attempts;
      if (try_once(*client, payload, deadline, reply)) break;
      if (!retryable(reply.status)) break;
    }
    if (client) release(std::move(client));
    reply.latency_ms = ms_between(start, Clock::now());
    return reply;
  }

 private:
  // The request as this backend must see it: its own model id, no streaming. Built without
  // copying the (possibly long) request: serialise the other fields once and splice.
  std::string upstream_payload(const nlohmann::json& request) const {
    std::string out = "{\"model\":" + nlohmann::json(config_.model).dump() + ",\"stream\":false";
    for (const auto& [key, value] : request.items()) {
      if (key == "model" || key == "stream") continue;
      out += ',';
      out += nlohmann::json(key).dump();
      out += ':';
      out += value.dump();
    }
    out += '}';
    return out;
  }

  static bool retryable(int status) { return status == 0 || status == 429 || status >= 500; }

  // One HTTP attempt; true on a usable answer. Fills reply's status/error either way.
  bool try_once(httplib::Client& client, const std::string& payload, Deadline deadline,
                BackendReply& reply) {
    const double left_ms = std::min<double>(config_.timeout_ms, ms_between(Clock::now(), deadline));
    const auto timeout =
        std::chrono::microseconds(static_cast<int64_t>(std::max(1.0, left_ms) * 1000));
    client.set_connection_timeout(timeout);
    client.set_read_timeout(timeout);
    client.set_write_timeout(timeout);
    auto res = client.Post(url_.path + "/chat/completions", payload, "application/json");
    if (!res) {
      reply.status = 0;
      reply.error = "connection failed: " + httplib::to_string(res.error());
      return false;
    }
    reply.status = res->status;
    if (res->status != 200) {
      reply.error = "HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 200);
      return false;
    }
    try {
      reply.body = nlohmann::json::parse(res->body);
      const auto& content = reply.body.at("choices").at(0).at("message").at("content");
      reply.content = content.is_string() ? content.get<std::string>() : "";
      reply.ok = true;
      reply.error.clear();
      return true;
    } catch (const std::exception&) {
      reply.error = "malformed reply (not an OpenAI chat completion): " + res->body.substr(0, 120);
      reply.status = 502;  // garbage is worth one more try
      return false;
    }
  }

  // A keep-alive client from the pool; waits (until the deadline) while max_concurrency are busy.
  std::unique_ptr<httplib::Client> acquire(Deadline deadline) {
    std::unique_lock lock(mutex_);
    if (!free_.wait_until(lock, deadline,
                          [&] { return !idle_.empty() || created_ < config_.max_concurrency; }))
      return nullptr;
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
    ++created_;
    lock.unlock();
    auto c = std::make_unique<httplib::Client>(url_.origin);
    c->set_keep_alive(true);
    c->set_tcp_nodelay(true);
    if (!config_.api_key.empty()) c->set_bearer_token_auth(config_.api_key.c_str());
    return c;
  }

  void release(std::unique_ptr<httplib::Client> c) {
    {
      std::lock_guard lock(mutex_);
      idle_.push_back(std::move(c));
    }
    free_.notify_one();
  }

  HttpBackendConfig config_;
  ParsedUrl url_;
  std::mutex mutex_;
  std::condition_variable free_;
  std::vector<std::unique_ptr<httplib::Client>> idle_;
  size_t created_ = 0;
};

}  // namespace

std::unique_ptr<Backend> make_http_backend(const HttpBackendConfig& config) {
  return std::make_unique<HttpBackend>(config);
}

}  // namespace smacs
