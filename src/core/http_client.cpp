#include "core/http_client.h"

#include <httplib.h>

#include <thread>

#include "core/error.h"
#include "core/hop.h"
#include "core/utf8.h"

namespace smacs {

namespace {

// A Retry-After in seconds (the HTTP-date form is not used by model APIs); 0 when absent or
// unreadable. Capped: a backend cannot make a call wait an hour.
double parse_retry_after(const std::string& value) {
  char* end = nullptr;
  const double s = std::strtod(value.c_str(), &end);
  if (value.empty() || end == value.c_str() || !(s > 0)) return 0;
  return std::min(s, 600.0);
}

}  // namespace

bool judge_reply(int status, const std::string& body, const std::string& retry_after,
                 const std::function<bool(const std::string&)>& usable, const std::string& what,
                 HttpError& err) {
  err.timed_out = false;
  err.retry_after_s = 0;
  err.status = status;
  if (status != 200) {
    err.kind = status == 429 ? FailureKind::kRateLimited : FailureKind::kStatus;
    if (status == 429) err.retry_after_s = parse_retry_after(retry_after);
    err.message = "HTTP " + std::to_string(status) + ": " + printable(body, 200);
    return false;
  }
  err.status = 502;  // a 200 that is no reply is the backend's failure, worth one more try
  if (const auto bad = invalid_utf8_at(body)) {
    char byte[8];
    std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(body[*bad]));
    err.kind = FailureKind::kInvalidUtf8;
    err.message = std::string("invalid UTF-8 in the reply (byte ") + byte + " at offset " +
                  std::to_string(*bad) + "): " + printable(body, 120);
    return false;
  }
  if (usable && !usable(body)) {
    err.kind = FailureKind::kMalformed;
    err.message = "malformed reply (not " + what + "): " + printable(body, 120);
    return false;
  }
  err.status = 200;
  return true;
}

void transport_failure(HttpError& err, bool timed_out, bool connected, const std::string& why) {
  err.status = 0;
  err.retry_after_s = 0;
  err.timed_out = timed_out;
  err.kind = timed_out   ? FailureKind::kTimeout
             : connected ? FailureKind::kClosed
                         : FailureKind::kConnect;
  err.message = timed_out   ? "timed out: " + why
                : connected ? "the connection closed before the reply was complete: " + why
                            : "connection failed: " + why;
}

HttpError no_free_connection(size_t max_connections) {
  return HttpError{.message = "no free connection before the deadline (max_concurrency " +
                              std::to_string(max_connections) + ")",
                   .timed_out = true,
                   .kind = FailureKind::kBusy};
}

std::optional<double> wait_before_attempt_ms(HttpError& err, int attempt, int backoff_ms,
                                             Deadline deadline) {
  const double left = ms_between(Clock::now(), deadline);
  if (left <= 1) {
    err.message = err.message.empty() ? "deadline passed" : err.message + "; deadline passed";
    err.timed_out = true;
    return std::nullopt;
  }
  if (attempt == 0) return 0.0;
  double wait = static_cast<double>(backoff_ms) * (1 << std::min(attempt - 1, 20));
  if (err.retry_after_s > 0) wait = std::max(wait, err.retry_after_s * 1000);
  // A wait that outlasts the deadline ends the calls now, with the last real error (a 502,
  // not a 504 for the time spent waiting).
  if (wait >= left) return std::nullopt;
  return std::max(0.0, wait);
}

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
  if (!client) return failure(no_free_connection(endpoint_.max_connections));
  for (int attempt = 0; attempt <= endpoint_.retries; ++attempt) {
    const auto wait = wait_before_attempt_ms(err, attempt, endpoint_.backoff_ms, deadline);
    if (!wait) break;
    if (*wait > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(*wait));
    ++err.attempts;
    const double budget =
        std::min<double>(endpoint_.timeout_ms, ms_between(Clock::now(), deadline));
    const auto timeout =
        std::chrono::microseconds(static_cast<int64_t>(std::max(1.0, budget) * 1000));
    client->set_connection_timeout(timeout);
    client->set_read_timeout(timeout);
    client->set_write_timeout(timeout);
    const auto sent_at = Clock::now();
    auto res = client->Post(base_path_ + path, payload, "application/json");
    if (!res) {
      const auto e = res.error();
      // httplib says Read for a closed connection too: it timed out only if the time is up.
      const bool out_of_time = ms_since(sent_at) >= 0.95 * budget;
      transport_failure(err, e == httplib::Error::ConnectionTimeout || out_of_time,
                        e != httplib::Error::Connection && e != httplib::Error::ConnectionTimeout,
                        httplib::to_string(e));
    } else if (judge_reply(res->status, res->body, res->get_header_value("Retry-After"), usable,
                           what, err)) {
      release(std::move(client));
      return HttpReply{std::move(res->body), err.attempts, false,
                       res->get_header_value("Content-Type")};
    }
    if (!retryable_status(err.status)) break;
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
  c->set_default_headers({{kHopHeader, hop_token()}});
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
