#include "core/http_client.h"

#include <httplib.h>

#include <thread>

#include "core/error.h"

namespace smacs {

HttpClientPool::HttpClientPool(HttpEndpoint endpoint) : endpoint_(std::move(endpoint)) {
  const std::string& url = endpoint_.base_url;
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
    throw Error("base_url '" + url + "' must start with http:// or https://");
  const auto path_start = url.find('/', url.find("://") + 3);
  origin_ = url.substr(0, path_start);
  base_path_ = path_start == std::string::npos ? "" : url.substr(path_start);
  while (!base_path_.empty() && base_path_.back() == '/') base_path_.pop_back();
  if (endpoint_.max_connections == 0) throw Error(url + ": max_connections must be > 0");
  async_ = make_async(endpoint_, origin_);
}

HttpClientPool::~HttpClientPool() = default;

HttpResult HttpClientPool::post(const std::string& path, const std::string& payload,
                                Deadline deadline,
                                const std::function<bool(const std::string&)>& usable,
                                const std::string& what) const {
  HttpError err;
  auto client = acquire(deadline);
  if (!client) {
    err.message = "no free connection before the deadline (max_concurrency " +
                  std::to_string(endpoint_.max_connections) + ")";
    err.timed_out = true;
    return failure(std::move(err));
  }
  for (int attempt = 0; attempt <= endpoint_.retries; ++attempt) {
    const double left_ms = ms_between(Clock::now(), deadline);
    if (left_ms <= 1) {
      err.message = err.message.empty() ? "deadline passed" : err.message + "; deadline passed";
      err.timed_out = true;
      break;
    }
    if (attempt > 0) {  // exponential backoff, never past the deadline
      const double wait = std::min<double>(endpoint_.backoff_ms << (attempt - 1), left_ms - 1);
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(wait));
    }
    ++err.attempts;
    const double budget =
        std::min<double>(endpoint_.timeout_ms, ms_between(Clock::now(), deadline));
    const auto timeout =
        std::chrono::microseconds(static_cast<int64_t>(std::max(1.0, budget) * 1000));
    client->set_connection_timeout(timeout);
    client->set_read_timeout(timeout);
    client->set_write_timeout(timeout);
    auto res = client->Post(base_path_ + path, payload, "application/json");
    err.timed_out = false;
    if (!res) {
      err.status = 0;
      const auto e = res.error();
      err.timed_out = e == httplib::Error::Read || e == httplib::Error::Write ||
                      e == httplib::Error::ConnectionTimeout;
      err.message = (err.timed_out ? "timed out: " : "connection failed: ") + httplib::to_string(e);
    } else if (res->status != 200) {
      err.status = res->status;
      err.message = "HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 200);
    } else if (usable && !usable(res->body)) {
      err.status = 502;  // garbage is worth one more try
      err.message = "malformed reply (not " + what + "): " + res->body.substr(0, 120);
    } else {
      release(std::move(client));
      return HttpReply{std::move(res->body), err.attempts};
    }
    if (!retryable_status(err.status)) break;
  }
  release(std::move(client));
  return failure(std::move(err));
}

HttpResult HttpClientPool::post_stream(
    const std::string& path, const std::string& payload, Deadline deadline,
    const std::function<bool(std::string_view)>& on_bytes) const {
  HttpError err;
  auto client = acquire(deadline);
  if (!client) {
    err.message = "no free connection before the deadline";
    err.timed_out = true;
    return failure(std::move(err));
  }
  bool streamed = false;
  for (int attempt = 0; attempt <= endpoint_.retries && !streamed; ++attempt) {
    const double left_ms = ms_between(Clock::now(), deadline);
    if (left_ms <= 1) {
      err.message = "deadline passed";
      err.timed_out = true;
      break;
    }
    ++err.attempts;
    const auto timeout = std::chrono::microseconds(
        static_cast<int64_t>(std::min<double>(endpoint_.timeout_ms, left_ms) * 1000));
    client->set_connection_timeout(timeout);
    client->set_read_timeout(timeout);
    client->set_write_timeout(timeout);
    httplib::Request req;
    req.method = "POST";
    req.path = base_path_ + path;
    req.body = payload;
    req.set_header("Content-Type", "application/json");
    req.set_header("Accept", "text/event-stream");
    int status = 0;
    std::string refused;  // a non-200 reply's body, bounded
    req.response_handler = [&](const httplib::Response& res) {
      status = res.status;
      return true;
    };
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
      if (status != 200) {
        refused.append(data, std::min(n, 200 - std::min<size_t>(200, refused.size())));
        return true;
      }
      streamed = true;
      return on_bytes(std::string_view(data, n)) && Clock::now() < deadline;
    };
    httplib::Response res;
    httplib::Error error = httplib::Error::Success;
    const bool sent = client->send(req, res, error);
    err.status = status;
    err.timed_out = false;
    if (sent && status == 200) {
      release(std::move(client));
      return HttpReply{"", err.attempts};
    }
    if (status != 0 && status != 200) {
      err.message = "HTTP " + std::to_string(status) + ": " + refused;
    } else {
      err.timed_out = error == httplib::Error::Read || error == httplib::Error::Write ||
                      error == httplib::Error::ConnectionTimeout || Clock::now() >= deadline;
      err.message =
          (err.timed_out ? "timed out: " : "connection failed: ") + httplib::to_string(error);
    }
    if (!retryable_status(status)) break;
  }
  release(std::move(client));
  return failure(std::move(err));
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
  if (!endpoint_.ca_file.empty()) c->set_ca_cert_path(endpoint_.ca_file.c_str());
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
