// Small helpers both HTTP servers (the gateway and replay-serve) share.
#pragma once
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "api/openai_api.h"
#include "server/http_server.h"

namespace smacs {

// JSON for the wire: an invalid UTF-8 byte that got this far is replaced, never thrown on.
inline std::string dump_safe(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline void send_error(HttpResponse& res, const ApiError& e) {
  res.status = e.status;
  res.content_type = "application/json";
  res.body = dump_safe(error_body(e));
  if (e.retry_after_s > 0)
    res.set_header("Retry-After", std::to_string(static_cast<int64_t>(std::ceil(e.retry_after_s))));
}

inline void send_json(HttpResponse& res, const nlohmann::json& body, int status = 200) {
  res.status = status;
  res.content_type = "application/json";
  res.body = dump_safe(body);
}

// Server-Sent Events already complete: sent as one body (what an SSE client reads the same).
inline void send_sse(HttpResponse& res, const std::vector<std::string>& events) {
  res.content_type = "text/event-stream";
  res.set_header("Cache-Control", "no-cache");
  res.body.clear();
  for (const auto& e : events) res.body += e;
}

}  // namespace smacs
