// `smacs replay-serve`: recorded results as an OpenAI-compatible endpoint. The `model` field
// picks the model, the last user message picks the recorded question, and the reply is that
// model's recorded response. An unknown prompt or model, or a missing result, is a 404.
#pragma once
#include <mutex>
#include <unordered_map>

#include "core/record.h"
#include "selection/select.h"
#include "server/http_server.h"

namespace smacs {

struct ReplayOptions {
  std::string host = "127.0.0.1";
  int port = 9100;
  int latency_ms = 0;    // added to every reply
  double fail_rate = 0;  // share of requests answered with HTTP 500 (seeded)
  uint64_t seed = 1;
  size_t threads = 512;  // handler threads (each sleeps through --latency-ms)
};

class ReplayServer {
 public:
  ReplayServer(Dataset data, ReplayOptions options);
  int bind();
  void run() { server_.run(); }
  void stop() { server_.stop(); }

 private:
  void chat_completions(const HttpRequest& req, HttpResponse& res);

  Dataset data_;
  ReplayOptions options_;
  // A prompt may be recorded more than once (RouterBench has a duplicate row with no results).
  std::unordered_map<std::string, std::vector<size_t>> by_prompt_;
  HttpServer server_;
  std::mutex rng_mutex_;
  SplitMix64 rng_;
};

}  // namespace smacs
