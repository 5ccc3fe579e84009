// Load benchmark of `smacs serve` (issue 3): overhead = latency through smacs minus the
// slowest selected backend; throughput with k = 3; memory over many requests.
// Loopback only, bounded by --requests and --seconds.
//   build/smacs_load [--requests 20000] [--clients 64] [--seconds 120] [--k 3] [--rate R]
// Without --rate every client sends its next request as soon as the last is answered (closed
// loop: the 2 cores saturate and latency is mostly queueing). With --rate the clients together
// offer R requests/s, each on its own schedule (open loop, paced).
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

#include "data/load.h"
#include "server/gateway_server.h"
#include "server/replay_server.h"

using namespace smacs;
using nlohmann::json;

namespace {

long rss_kib() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

template <typename Server>
struct Running {
  Server& server;
  std::thread thread;
  explicit Running(Server& s) : server(s), thread([&] { server.run(); }) {}
  ~Running() { server.stop(), thread.join(); }
};

}  // namespace

int main(int argc, char** argv) {
  size_t requests = 20000, clients = 64, k = 3;
  double seconds = 120, rate = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--requests"))
      requests = std::stoul(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--clients"))
      clients = std::stoul(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seconds"))
      seconds = std::stod(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--k"))
      k = std::stoul(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--rate"))
      rate = std::stod(argv[i + 1]);
    else
      return std::fprintf(stderr, "smacs_load: unknown option %s\n", argv[i]), 2;
  }
  const std::string data = std::string(SMACS_SHARED_DATA) + "/routerbench/arc_challenge_";
  const Dataset test = load_file(data + "test.csv");
  ReplayOptions ro;
  ro.port = 0,
  ro.threads = 6 * clients + 16;  // each pooled keep-alive connection holds a server thread
  ReplayServer replay(test, ro);
  const int replay_port = replay.bind();
  Running<ReplayServer> replay_running(replay);

  ServerConfig config;
  config.port = 0, config.threads = clients + 16;
  config.params.k = k;
  std::vector<std::unique_ptr<Backend>> backends;
  const std::vector<std::string> pool = {"zero-one-ai/Yi-34B-Chat",
                                         "mistralai/mixtral-8x7b-chat",
                                         "meta/llama-2-70b-chat",
                                         "mistralai/mistral-7b-chat",
                                         "meta/code-llama-instruct-34b-chat",
                                         "WizardLM/WizardLM-13B-V1.2"};
  for (const auto& m : pool) {
    HttpBackendConfig b;
    b.name = m, b.base_url = "http://127.0.0.1:" + std::to_string(replay_port) + "/v1",
    b.max_concurrency = clients;
    backends.push_back(make_http_backend(b));
  }
  Metrics metrics;
  Gateway gateway(build_bank(load_file(data + "train.csv")), config.params, std::move(backends),
                  metrics);
  GatewayServer server(config, gateway, metrics);
  const int port = server.bind();
  Running<GatewayServer> running(server);

  std::vector<std::string> bodies;
  for (const auto& r : test.records)
    if (std::any_of(pool.begin(), pool.end(), [&](const std::string& m) {
          return !is_missing(r.scores[test.model_index(m)]);
        }))  // else a 502 by design
      bodies.push_back(
          json{{"model", "smacs"},
               {"messages", json::array({{{"role", "user"}, {"content", r.question}}})}}
              .dump());

  std::atomic<size_t> next{0}, errors{0};
  std::vector<std::vector<double>> overhead(clients), total(clients);
  std::vector<std::pair<size_t, long>> rss;  // (requests done, KiB)
  std::mutex rss_mutex;
  const auto start = Clock::now();
  const auto stop_at = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (size_t c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      // Paced: client c sends at start + (c + j * clients) / rate, its j-th slot of the schedule.
      const auto period =
          std::chrono::duration<double>(rate > 0 ? static_cast<double>(clients) / rate : 0);
      auto slot = start + std::chrono::duration_cast<Clock::duration>(
                              period * (static_cast<double>(c) / static_cast<double>(clients)));
      for (size_t i; (i = next++) < requests && Clock::now() < stop_at;) {
        if (rate > 0) {
          std::this_thread::sleep_until(slot);
          slot += std::chrono::duration_cast<Clock::duration>(period);
        }
        const auto t0 = Clock::now();
        auto res =
            client.Post("/v1/chat/completions", bodies[i % bodies.size()], "application/json");
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (!res || res->status != 200) {
          if (errors++ < 3)
            std::fprintf(
                stderr, "error after %.0f ms: %s\n", ms,
                res ? (std::to_string(res->status) + " " + res->body.substr(0, 300)).c_str()
                    : httplib::to_string(res.error()).c_str());
          continue;
        }
        double slowest = 0;
        const json reply = json::parse(res->body);  // kept alive for the loop below
        for (const auto& [name, l] : reply["smacs"]["latency_ms"].items())
          slowest = std::max(slowest, l.get<double>());
        total[c].push_back(ms);
        overhead[c].push_back(ms - slowest);
        if (i % (requests / 10 == 0 ? 1 : requests / 10) == 0) {
          std::lock_guard lock(rss_mutex);
          rss.emplace_back(i, rss_kib());
        }
      }
    });
  for (auto& t : threads) t.join();
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all_overhead, all_total;
  for (size_t c = 0; c < clients; ++c) {
    all_overhead.insert(all_overhead.end(), overhead[c].begin(), overhead[c].end());
    all_total.insert(all_total.end(), total[c].begin(), total[c].end());
  }
  std::sort(rss.begin(), rss.end());
  const std::string mode =
      rate > 0 ? "paced at " + std::to_string(static_cast<int>(rate)) + " requests/s offered"
               : std::string("closed loop (each client sends when answered)");
  std::printf("requests %zu ok, %zu errors, %zu clients, k=%zu, %.1f s wall (%u cores), %s\n",
              all_total.size(), errors.load(), clients, k, wall,
              std::thread::hardware_concurrency(), mode.c_str());
  std::printf("throughput      %.0f SMACS requests/s\n",
              static_cast<double>(all_total.size()) / wall);
  std::printf("latency total   p50 %.3f ms  p99 %.3f ms\n", percentile(all_total, 0.5),
              percentile(all_total, 0.99));
  std::printf(
      "overhead        p50 %.3f ms  p99 %.3f ms  (total minus the slowest selected backend)\n",
      percentile(all_overhead, 0.5), percentile(all_overhead, 0.99));
  std::printf("RSS (whole process: clients, gateway, backends) by requests done:");
  for (const auto& [i, kib] : rss) std::printf(" %zu:%ldMiB", i, kib / 1024);
  std::printf("\n");
  return errors.load() == 0 ? 0 : 1;
}
