// Load benchmark of `smacs serve`: overhead = latency through smacs minus the slowest selected
// backend; throughput with k = 3; memory; and the same under hostile connections (idle
// keep-alive and slowloris) with /health probed throughout. Loopback only, bounded by
// --requests and --seconds. See kUsage.
#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "data/load.h"
#include "server/gateway_server.h"
#include "server/replay_server.h"
#include "server/wiring.h"

using namespace smacs;
using nlohmann::json;

namespace {

const char* kUsage = R"(usage: smacs_load [options]
  --requests N      SMACS requests to send (default 20000)
  --clients N       concurrent keep-alive clients (default 64)
  --seconds S       stop after S seconds whatever is left (default 120)
  --k K             models per question, in-process gateway only (default 3)
  --aggregate N     in-process: aggregate mode with N candidates of k-1 references each,
                    the aggregator a replay-serve model (default 0: select mode); overhead
                    is then total minus the slowest reference minus the slowest candidate
  --rate R          paced: the clients together offer R requests/s (default: closed loop,
                    each client sends when its last request is answered)
  --target H:P      load an already running `smacs serve` (started over replay-serve of the
                    RouterBench test split) instead of in-process servers
  --target-pid PID  with --target: report that process's RSS and CPU
  --idle N          open N idle keep-alive connections first (they send nothing)
  --slowloris N     open N connections that send one header line every 2 s, never finishing
  --health-ms MS    probe GET /health every MS ms during the load; report its p50/p99
  --hold S          with --idle/--slowloris: first hold them S seconds with no load and
                    report the target's CPU use meanwhile
Loopback only; every loop is bounded in count and time.
)";

long rss_kib_of(int pid) {
  std::ifstream in("/proc/" + (pid > 0 ? std::to_string(pid) : std::string("self")) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

double cpu_seconds_of(int pid) {  // user + system time of the process
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; rest >> field && i <= 15; ++i)
    if (i == 14 || i == 15) ticks += std::stod(field);
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

int connect_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_port = htons(static_cast<uint16_t>(port));
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  return fd;
}

// Idle and slowloris connections, held open while in scope; slowloris ones drip a header line
// every 2 s from one thread.
struct HostileConnections {
  std::vector<int> idle, slow;
  std::atomic<bool> stop{false};
  std::thread dripper;
  HostileConnections(int port, size_t n_idle, size_t n_slow) {
    for (size_t i = 0; i < n_idle; ++i)
      if (int fd = connect_loopback(port); fd >= 0) idle.push_back(fd);
    for (size_t i = 0; i < n_slow; ++i)
      if (int fd = connect_loopback(port); fd >= 0) {
        const char* start = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n";
        (void)!::send(fd, start, std::strlen(start), MSG_NOSIGNAL);
        slow.push_back(fd);
      }
    dripper = std::thread([this] {
      for (int round = 0; !stop; ++round) {
        for (int i = 0; i < 20 && !stop; ++i)
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        const std::string line = "X-Drip-" + std::to_string(round) + ": 1\r\n";
        for (int fd : slow) (void)!::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
      }
    });
  }
  // Connections the server has closed (a read returns 0 or an error other than EAGAIN).
  size_t closed_by_server() const {
    size_t n = 0;
    char buf[512];
    for (const auto* fds : {&idle, &slow})
      for (int fd : *fds) {
        const ssize_t r = ::recv(fd, buf, sizeof buf, MSG_PEEK);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) ++n;
      }
    return n;
  }
  ~HostileConnections() {
    stop = true;
    dripper.join();
    for (int fd : idle) ::close(fd);
    for (int fd : slow) ::close(fd);
  }
};

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
  size_t requests = 20000, clients = 64, k = 3, idle = 0, slowloris = 0, aggregate = 0;
  double seconds = 120, rate = 0, health_ms = 0, hold = 0;
  std::string target;
  int target_pid = 0;
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::fputs(kUsage, stdout);
      return 0;
    }
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc) {
      std::fprintf(stderr, "smacs_load: %s needs a value\n%s", argv[i], kUsage);
      return 2;
    }
    if (!std::strcmp(argv[i], "--requests"))
      requests = std::stoul(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--clients"))
      clients = std::stoul(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seconds"))
      seconds = std::stod(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--k"))
      k = std::stoul(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--aggregate"))
      aggregate = std::stoul(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--rate"))
      rate = std::stod(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--target"))
      target = argv[i + 1];
    else if (!std::strcmp(argv[i], "--target-pid"))
      target_pid = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--idle"))
      idle = std::stoul(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--slowloris"))
      slowloris = std::stoul(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--health-ms"))
      health_ms = std::stod(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--hold"))
      hold = std::stod(argv[i + 1]);
    else
      return std::fprintf(stderr, "smacs_load: unknown option %s\n%s", argv[i], kUsage), 2;
  }
  rlimit fds{};  // thousands of hostile connections need as many descriptors
  if (::getrlimit(RLIMIT_NOFILE, &fds) == 0) {
    fds.rlim_cur = fds.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &fds);
  }
  const std::string data = std::string(SMACS_SHARED_DATA) + "/routerbench/arc_challenge_";
  const Dataset test = load_file(data + "test.csv");
  const std::vector<std::string> pool = {"zero-one-ai/Yi-34B-Chat",
                                         "mistralai/mixtral-8x7b-chat",
                                         "meta/llama-2-70b-chat",
                                         "mistralai/mistral-7b-chat",
                                         "meta/code-llama-instruct-34b-chat",
                                         "WizardLM/WizardLM-13B-V1.2"};
  // In-process: replay-serve and the gateway in this process; else an outside gateway.
  std::unique_ptr<ReplayServer> replay;
  std::unique_ptr<Running<ReplayServer>> replay_running;
  Metrics metrics;
  std::unique_ptr<Gateway> gateway;
  std::unique_ptr<GatewayServer> server;
  std::unique_ptr<Running<GatewayServer>> running;
  ServerConfig config;
  std::string host = "127.0.0.1";
  int port = 0;
  if (!target.empty()) {
    const auto colon = target.rfind(':');
    host = target.substr(0, colon);
    port = std::stoi(target.substr(colon + 1));
  } else {
    ReplayOptions ro;
    ro.port = 0;
    ro.threads = 2 * clients + 16;
    replay = std::make_unique<ReplayServer>(test, ro);
    const int replay_port = replay->bind();
    replay_running = std::make_unique<Running<ReplayServer>>(*replay);
    config.port = 0;
    config.threads = clients + 16;
    config.access_log = "none";
    config.params.k = k;
    for (const auto& m : pool) {
      HttpBackendConfig& b = config.pool.emplace_back().http;
      b.name = m;
      b.base_url = "http://127.0.0.1:" + std::to_string(replay_port) + "/v1";
      b.max_concurrency = clients;
    }
    if (aggregate > 0) {  // the aggregator: the first pool model's recorded answers, again
      config.params.mode = EpeMode::kAggregate;
      config.params.aggregate.candidates = aggregate;
      config.params.aggregate.keep = std::max<size_t>(k, 2) - 1;
      config.aggregators.emplace_back().http = {
          .name = "aggregator",
          .base_url = "http://127.0.0.1:" + std::to_string(replay_port) + "/v1",
          .model = pool[0],
          .max_concurrency = clients * aggregate};
      config.aggregator = "aggregator";
    }
    config.feedback_journal.clear();
    gateway =
        make_gateway(config, build_bank(load_file(data + "train.csv")), config.params, metrics);
    server = std::make_unique<GatewayServer>(config, *gateway, metrics);
    port = server->bind();
    running = std::make_unique<Running<GatewayServer>>(*server);
  }
  const int watched = target_pid;  // whose RSS and CPU to report (0: this process)
  auto rss_mib = [&] { return rss_kib_of(watched) / 1024; };

  std::vector<std::string> bodies;
  for (const auto& r : test.records)
    if (std::any_of(pool.begin(), pool.end(), [&](const std::string& m) {
          return !is_missing(r.scores[test.model_index(m)]);
        }))  // else a 502 by design
      bodies.push_back(
          json{{"model", "smacs"},
               {"messages", json::array({{{"role", "user"}, {"content", r.question}}})}}
              .dump());

  const long rss_before = rss_mib();
  std::unique_ptr<HostileConnections> hostile;
  if (idle + slowloris > 0) {
    const auto t0 = Clock::now();
    hostile = std::make_unique<HostileConnections>(port, idle, slowloris);
    std::printf("opened %zu idle and %zu slowloris connections in %.1f s; RSS %ld -> %ld MiB\n",
                hostile->idle.size(), hostile->slow.size(),
                std::chrono::duration<double>(Clock::now() - t0).count(), rss_before, rss_mib());
    if (hold > 0 && watched > 0) {
      const double cpu0 = cpu_seconds_of(watched);
      std::this_thread::sleep_for(std::chrono::duration<double>(hold));
      std::printf(
          "held them %.0f s with no load: target CPU %.2f %% of one core, RSS %ld MiB, "
          "%zu closed by the server\n",
          hold, 100.0 * (cpu_seconds_of(watched) - cpu0) / hold, rss_mib(),
          hostile->closed_by_server());
    }
  }
  // /health probes on their own keep-alive connection while the load runs.
  std::atomic<bool> loading{true};
  std::vector<double> health;
  size_t health_failed = 0;
  std::thread prober;
  if (health_ms > 0)
    prober = std::thread([&] {
      httplib::Client probe(host, port);
      probe.set_keep_alive(true);
      probe.set_read_timeout(5, 0);
      while (loading) {
        const auto t0 = Clock::now();
        auto res = probe.Get("/health");
        if (res && res->status == 200)
          health.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        else
          ++health_failed;
        std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(health_ms));
      }
    });
  const double cpu_start = watched > 0 ? cpu_seconds_of(watched) : 0;

  std::atomic<size_t> next{0}, errors{0};
  std::vector<std::vector<double>> overhead(clients), total(clients);
  std::vector<std::pair<size_t, long>> rss;  // (requests done, KiB)
  std::mutex rss_mutex;
  const auto start = Clock::now();
  const auto stop_at = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (size_t c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      httplib::Client client(host, port);
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
        if (const auto a = reply["smacs"].find("aggregate"); a != reply["smacs"].end()) {
          double slowest_candidate = 0;
          for (const auto& cand : (*a)["candidates"])
            slowest_candidate = std::max(slowest_candidate, cand.value("latency_ms", 0.0));
          slowest += slowest_candidate;
        }
        total[c].push_back(ms);
        overhead[c].push_back(ms - slowest);
        if (i % (requests / 10 == 0 ? 1 : requests / 10) == 0) {
          std::lock_guard lock(rss_mutex);
          rss.emplace_back(i, rss_mib() * 1024);
        }
      }
    });
  for (auto& t : threads) t.join();
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu_used = watched > 0 ? cpu_seconds_of(watched) - cpu_start : 0;
  loading = false;
  if (prober.joinable()) prober.join();
  std::vector<double> all_overhead, all_total;
  for (size_t c = 0; c < clients; ++c) {
    all_overhead.insert(all_overhead.end(), overhead[c].begin(), overhead[c].end());
    all_total.insert(all_total.end(), total[c].begin(), total[c].end());
  }
  std::sort(rss.begin(), rss.end());
  const std::string mode =
      rate > 0 ? "paced at " + std::to_string(static_cast<int>(rate)) + " requests/s offered"
               : std::string("closed loop (each client sends when answered)");
  std::printf("requests %zu ok, %zu errors, %zu clients, k=%zu%s, %.1f s wall (%u cores), %s\n",
              all_total.size(), errors.load(), clients, k,
              aggregate > 0 ? (", aggregate mode N=" + std::to_string(aggregate)).c_str() : "",
              wall, std::thread::hardware_concurrency(), mode.c_str());
  std::printf("throughput      %.0f SMACS requests/s\n",
              static_cast<double>(all_total.size()) / wall);
  std::printf("latency total   p50 %.3f ms  p99 %.3f ms\n", percentile(all_total, 0.5),
              percentile(all_total, 0.99));
  std::printf(
      "overhead        p50 %.3f ms  p99 %.3f ms  (total minus the slowest selected backend%s)\n",
      percentile(all_overhead, 0.5), percentile(all_overhead, 0.99),
      aggregate > 0 ? " and the slowest aggregator call" : "");
  if (health_ms > 0)
    std::printf("/health         p50 %.3f ms  p99 %.3f ms  max %.3f ms  (%zu probes, %zu failed)\n",
                percentile(health, 0.5), percentile(health, 0.99), percentile(health, 1.0),
                health.size(), health_failed);
  if (watched > 0) std::printf("target CPU      %.2f cores busy on average\n", cpu_used / wall);
  std::printf("RSS (%s) by requests done:",
              watched > 0 ? "the target process" : "whole process: clients, gateway, backends");
  for (const auto& [i, kib] : rss) std::printf(" %zu:%ldMiB", i, kib / 1024);
  std::printf("\n");
  if (hostile) {
    std::printf("hostile connections closed by the server during the run: %zu of %zu\n",
                hostile->closed_by_server(), hostile->idle.size() + hostile->slow.size());
    hostile.reset();
    // The server hands freed memory back every 2 s once connections have closed.
    std::this_thread::sleep_for(std::chrono::seconds(3));
    std::printf("RSS after closing them: %ld MiB (before opening: %ld)\n", rss_mib(), rss_before);
  }
  return errors.load() == 0 ? 0 : 1;
}
