// Who may ask, and the record of who asked: the API key check (Bearer or Anthropic's
// x-api-key) and the access log, one JSON line per request.
#pragma once
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "server/http_server.h"

namespace smacs {

// The key a request carries ("" when `keys` is empty: keys are off); nullopt when it lacks a
// valid one.
std::optional<std::string> client_key(const std::vector<std::string>& keys, const HttpRequest& req);
// Sends the 401 and returns true when the request lacks a valid key.
bool reject_unauthorized(const std::vector<std::string>& keys, const HttpRequest& req,
                         HttpResponse& res);

// A client's own x-request-id is echoed (and logged) when it is a plain token of sane length.
bool usable_request_id(const std::string& id);

class AccessLog {
 public:
  // `where`: "stderr", "none" or a file (appended to). Throws smacs::Error when it cannot open.
  explicit AccessLog(const std::string& where);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;
  // time, remote, method, path, status, latency_ms, the response's notes (id, model,
  // selected, chosen) and the client's own request_id.
  void write(const HttpRequest& req, const HttpResponse& res, double ms);

 private:
  FILE* file_ = nullptr;  // stderr, a file, or none
};

}  // namespace smacs
