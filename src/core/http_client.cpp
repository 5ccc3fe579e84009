#include "core/http_client.h"

#include <httplib.h>

#include <thread>

#include "core/error.h"

namespace smacs {

namespace {

bool retryable(int status) { return status == 0 || status == 429 || status >= 500; }

}  // namespace

HttpClientPool::HttpClientPool(HttpEndpoint endpoint) : endpoint_(std::move(endpoint)) {
  const std::string& url = endpoint_.base_url;
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
    throw Error("base_url '" + url + "' must start with http:// or https://");
  const auto path_start = url.find('/', url.find("://") + 3);
  origin_ = url.substr(0, path_start);
  base_path_ = path_start == std::string::npos ? "" : url.substr(path_start);
  while (!base_path_.empty() && base_path_.back() == '/') base_path_.pop_back();
  if (endpoint_.max_connections == 0) throw Error(url + ": max_connections must be > 0");
}

HttpClientPool::~HttpClientPool() = default;

HttpResult HttpClientPool::post(const std::string& path, const std::string& payload,
                                Deadline deadline,
                                const std::function<bool(const std::string&)>& usable,
                                const std::string& what) const {
  HttpResult r;
  auto client = acquire(deadline);
  if (!client)
    r.error = "no free connection before the deadline (max_concurrency " +
              std::to_string(endpoint_.max_connections) + ")";
  for (int attempt = 0; client && attempt <= endpoint_.retries; ++attempt) {
    const double left_ms = ms_between(Clock::now(), deadline);
    if (left_ms <= 1) {
      r.error = r.error.empty() ? "deadline passed" : r.error + "; deadline passed";
      break;
    }
    if (attempt > 0) {  // exponential backoff, never past the deadline
      const double wait = std::min<double>(endpoint_.backoff_ms << (attempt - 1), left_ms - 1);
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(wait));
    }
    ++r.attempts;
    const double budget =
        std::min<double>(endpoint_.timeout_ms, ms_between(Clock::now(), deadline));
    const auto timeout =
        std::chrono::microseconds(static_cast<int64_t>(std::max(1.0, budget) * 1000));
    client->set_connection_timeout(timeout);
    client->set_read_timeout(timeout);
    client->set_write_timeout(timeout);
    auto res = client->Post(base_path_ + path, payload, "application/json");
    if (!res) {
      r.status = 0;
      r.error = "connection failed: " + httplib::to_string(res.error());
    } else if (res->status != 200) {
      r.status = res->status;
      r.error = "HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 200);
    } else if (usable && !usable(res->body)) {
      r.status = 502;  // garbage is worth one more try
      r.error = "malformed reply (not " + what + "): " + res->body.substr(0, 120);
    } else {
      r.ok = true, r.status = 200, r.error.clear();
      r.body = std::move(res->body);
      break;
    }
    if (!retryable(r.status)) break;
  }
  if (client) release(std::move(client));
  return r;
}

// A keep-alive client from the pool; waits (until the deadline) while all are busy.
std::unique_ptr<httplib::Client> HttpClientPool::acquire(Deadline deadline) const {
  std::unique_lock lock(mutex_);
  if (!free_.wait_until(lock, deadline,
                        [&] { return !idle_.empty() || created_ < endpoint_.max_connections; }))
    return nullptr;
  if (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    return c;
  }
  ++created_;
  lock.unlock();
  auto c = std::make_unique<httplib::Client>(origin_);
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);
  if (!endpoint_.api_key.empty()) c->set_bearer_token_auth(endpoint_.api_key.c_str());
  return c;
}

void HttpClientPool::release(std::unique_ptr<httplib::Client> c) const {
  {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(c));
  }
  free_.notify_one();
}

}  // namespace smacs
