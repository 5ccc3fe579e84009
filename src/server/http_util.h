// Small helpers both HTTP servers (the gateway and replay-serve) share.
#pragma once
#include <httplib.h>

#include <atomic>
#include <string>

#include "server/openai_api.h"

namespace smacs {

inline void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(error_body(e).dump(), "application/json");
}

inline void send_json(httplib::Response& res, const nlohmann::json& body, int status = 200) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

inline void send_sse(httplib::Response& res, std::vector<std::string> events) {
  auto shared = std::make_shared<std::vector<std::string>>(std::move(events));
  res.set_chunked_content_provider("text/event-stream", [shared](size_t, httplib::DataSink& sink) {
    for (const auto& e : *shared)
      if (!sink.write(e.data(), e.size())) return false;
    sink.done();
    return true;
  });
  res.set_header("Cache-Control", "no-cache");
}

// Settings every server here needs: JSON errors for failures httplib detects itself
// (unknown route, body over the limit), many worker threads for keep-alive clients.
void configure_http_server(httplib::Server& server, size_t threads, size_t max_body_bytes);

// Binds host:port (port 0 picks a free one); throws smacs::Error when it cannot.
int bind_http_server(httplib::Server& server, const std::string& host, int port);

}  // namespace smacs
