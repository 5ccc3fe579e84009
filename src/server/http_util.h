// Small helpers both HTTP servers (the gateway and replay-serve) share.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "api/openai_api.h"
#include "server/http_server.h"

namespace smacs {

inline void send_error(HttpResponse& res, const ApiError& e) {
  res.status = e.status;
  res.content_type = "application/json";
  res.body = error_body(e).dump();
}

inline void send_json(HttpResponse& res, const nlohmann::json& body, int status = 200) {
  res.status = status;
  res.content_type = "application/json";
  res.body = body.dump();
}

// Server-Sent Events already complete: sent as one body (what an SSE client reads the same).
inline void send_sse(HttpResponse& res, const std::vector<std::string>& events) {
  res.content_type = "text/event-stream";
  res.set_header("Cache-Control", "no-cache");
  res.body.clear();
  for (const auto& e : events) res.body += e;
}

}  // namespace smacs
