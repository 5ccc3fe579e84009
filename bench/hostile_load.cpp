// Load benchmark of `smacs serve` against misbehaving and heavy use (bench/hostile_backend.sh
// starts the servers): slow pass-through calls beside SMACS traffic, large SMACS requests and
// memory, a flood of feedback. Loopback only; every loop is bounded in count and time.
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/deadline.h"
#include "data/load.h"

using namespace smacs;
using nlohmann::json;

namespace {

const char* kUsage = R"(usage: smacs_hostile SCENARIO --port P --pid PID [options]
  slow-pass    SMACS latency alone, then beside --calls open pass-through calls to --model
  big-bodies   --calls SMACS requests with --kb KiB questions; the server's RSS before/after
  feedback     SMACS p50 alone, then beside --rate feedbacks/s from 4 keys for --seconds;
               then /admin/reload and the bank's question count
  pass-rate    --clients keep-alive clients send non-streaming requests for --model (a pool
               model of `smacs serve`, or any upstream: replay-serve, HAProxy) for --seconds;
               req/s (--pid 1 when the target is not smacs)
  reloads      --clients/2 pass-through (--model) and --clients/2 SMACS clients, first for
               --seconds alone, then while --calls /admin/reloads run back to back, then
               as long again without reloads (a control)
  big-aggregate  --calls SMACS requests, one at a time, to a gateway in aggregate mode beside
               --clients pass-through clients; their slowest, and the server's RSS
options: --calls N (1000) --model M (slow) --seconds S (10) --rate R (1000) --kb K (900)
         --clients C (4) --key K (client key for SMACS traffic; feedback keys are f1..f4)
         --api chat|responses|messages (pass-rate: the endpoint, /v1/chat/completions,
         /v1/responses or /v1/messages)
)";

struct Options {
  std::string scenario;
  int port = 0, pid = 0, calls = 1000, seconds = 10, rate = 1000, kb = 900, clients = 4;
  std::string model = "slow", key = "bench";
  std::string api = "chat";  // pass-rate: the door asked: chat, responses or messages
};

long status_field(int pid, const char* field) {  // a number from /proc/PID/status, e.g. VmRSS
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field)));
  return -1;
}

std::vector<std::string> questions() {
  std::vector<std::string> out;
  for (const auto& r :
       load_file(std::string(SMACS_SHARED_DATA) + "/routerbench/arc_challenge_test.csv").records)
    out.push_back(r.question);
  return out;
}

std::string chat(const std::string& model, const std::string& q) {
  return json{{"model", model}, {"messages", {{{"role", "user"}, {"content", q}}}}}.dump();
}

httplib::Client client(const Options& o, const std::string& key) {
  httplib::Client c("127.0.0.1", o.port);
  c.set_read_timeout(60, 0);
  c.set_bearer_token_auth(key);
  c.set_keep_alive(true);
  c.set_tcp_nodelay(true);
  return c;
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// SMACS requests from `clients` closed-loop clients for `seconds`; latencies in ms. Answer ids
// go to `ids` when given.
std::vector<double> smacs_traffic(const Options& o, int seconds, int clients,
                                  std::vector<std::string>* ids = nullptr, size_t max = 1u << 30,
                                  const std::atomic<bool>* stop = nullptr) {
  static const auto qs = questions();
  std::mutex mutex;
  std::vector<double> lat;
  std::atomic<size_t> sent{0};
  std::atomic<int> failed{0};
  const auto until = Clock::now() + std::chrono::seconds(seconds);
  std::vector<std::thread> ts;
  for (int t = 0; t < clients; ++t)
    ts.emplace_back([&, t] {
      auto c = client(o, o.key);
      for (size_t i = t; Clock::now() < until && !(stop && *stop); i += clients) {
        if (sent++ >= max) break;
        const auto start = Clock::now();
        auto r =
            c.Post("/v1/chat/completions", chat("smacs", qs[i % qs.size()]), "application/json");
        const double ms = ms_since(start);
        if (!r || r->status != 200) {
          if (failed++ == 0)
            std::printf("  first failure: %d %s\n", r ? r->status : 0,
                        r ? r->body.substr(0, 300).c_str() : "no reply");
          continue;
        }
        std::lock_guard lock(mutex);
        lat.push_back(ms);
        if (ids) ids->push_back(json::parse(r->body)["id"]);
      }
    });
  for (auto& t : ts) t.join();
  if (failed) std::printf("  (%d SMACS requests failed)\n", failed.load());
  return lat;
}

void report(const char* what, const std::vector<double>& lat) {
  std::printf("%-40s n=%zu p50=%.2f ms p99=%.2f ms max=%.1f ms\n", what, lat.size(), pct(lat, 0.5),
              pct(lat, 0.99), pct(lat, 1.0));
}

int slow_pass(const Options& o) {
  const auto alone = smacs_traffic(o, o.seconds, o.clients);
  report("SMACS alone", alone);
  std::atomic<int> done{0}, ok{0};
  std::vector<std::thread> slow;
  for (int i = 0; i < o.calls; ++i)
    slow.emplace_back([&] {
      httplib::Client c("127.0.0.1", o.port);
      c.set_read_timeout(60, 0);
      c.set_bearer_token_auth(o.key);
      auto r = c.Post("/v1/chat/completions", chat(o.model, "slow"), "application/json");
      if (r && r->status == 200) ++ok;
      ++done;
    });
  std::this_thread::sleep_for(std::chrono::seconds(2));  // all of them open and waiting
  std::printf("open pass-through calls: %d sent, %d answered so far; server threads %ld\n", o.calls,
              done.load(), status_field(o.pid, "Threads:"));
  const auto beside = smacs_traffic(o, o.seconds, o.clients);
  report("SMACS beside the slow calls", beside);
  std::printf("server threads while they were open: %ld\n", status_field(o.pid, "Threads:"));
  std::printf("p99 moved by %+.2f ms (target: within 5 ms)\n",
              pct(beside, 0.99) - pct(alone, 0.99));
  for (auto& t : slow) t.join();
  std::printf("slow pass-through calls answered 200: %d of %d\n", ok.load(), o.calls);
  return 0;
}

int big_bodies(const Options& o) {
  const long before = status_field(o.pid, "VmRSS:");
  std::atomic<int> next{0}, ok{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < o.clients; ++t)
    ts.emplace_back([&] {
      auto c = client(o, o.key);
      for (int i; (i = next++) < o.calls;) {
        std::string q = "Question " + std::to_string(i) + ": ";
        while (q.size() < static_cast<size_t>(o.kb) * 1024) q += "which gas do plants absorb? ";
        auto r = c.Post("/v1/chat/completions", chat("smacs", q), "application/json");
        if (r && r->status == 200)
          ++ok;
        else if (ok == 0 && i == 0)
          std::printf("  failure: %d %s\n", r ? r->status : 0,
                      r ? r->body.substr(0, 300).c_str() : "no reply");
      }
    });
  for (auto& t : ts) t.join();
  const long after = status_field(o.pid, "VmRSS:");
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const long later = status_field(o.pid, "VmRSS:");
  std::printf("%d SMACS requests of %d KiB: %d answered 200\n", o.calls, o.kb, ok.load());
  std::printf("server RSS: %ld MiB before, %ld MiB after, %ld MiB 3 s later: grew %+ld MiB\n",
              before / 1024, after / 1024, later / 1024, (std::max(after, later) - before) / 1024);
  auto c = client(o, o.key);
  const auto m = c.Get("/metrics");
  const auto at = m ? m->body.find("\nsmacs_remembered_answer_bytes ") : std::string::npos;
  if (at != std::string::npos)
    std::printf("remembered answers hold %ld bytes\n", std::atol(m->body.c_str() + at + 31));
  return 0;
}

std::string feedback_key(int k) {
  std::string key = "f";
  key.push_back(static_cast<char>('1' + k));
  return key;
}

int feedback(const Options& o) {
  auto c = client(o, o.key);
  const auto info = c.Post("/admin/reload", "", "application/json");
  const long start_questions = info ? json::parse(info->body).value("questions", 0L) : -1;
  // The answers to score: asked by the four feedback keys (only the asking key may score).
  std::vector<std::vector<std::string>> ids(4);
  const size_t total = static_cast<size_t>(o.rate) * o.seconds;
  std::vector<std::thread> ask;
  for (int k = 0; k < 4; ++k)
    ask.emplace_back([&, k] {
      Options as = o;
      as.key = feedback_key(k);
      auto got = smacs_traffic(as, 120, 2, &ids[k], total / 4);
      (void)got;
    });
  for (auto& t : ask) t.join();
  const auto alone = smacs_traffic(o, o.seconds, o.clients);
  report("SMACS alone", alone);
  std::atomic<int> recorded{0}, limited{0}, other{0};
  std::vector<std::thread> fb;
  const auto t0 = Clock::now();
  for (int k = 0; k < 4; ++k)
    fb.emplace_back([&, k] {
      auto fc = client(o, feedback_key(k));
      const double gap_ms = 4000.0 / o.rate;  // each key sends rate / 4 per second
      for (size_t i = 0; i < ids[k].size(); ++i) {
        const auto due = t0 + std::chrono::microseconds(static_cast<int64_t>(i * gap_ms * 1000));
        std::this_thread::sleep_until(due);
        if (Clock::now() > t0 + std::chrono::seconds(o.seconds + 5)) break;
        auto r = fc.Post("/v1/feedback", json{{"id", ids[k][i]}, {"score", (i % 2)}}.dump(),
                         "application/json");
        if (r && r->status == 200)
          ++recorded;
        else if (r && r->status == 429)
          ++limited;
        else if (other++ == 0)
          std::printf("  first feedback failure: %d %s\n", r ? r->status : 0,
                      r ? r->body.substr(0, 300).c_str() : "no reply");
      }
    });
  const auto beside = smacs_traffic(o, o.seconds, o.clients);
  for (auto& t : fb) t.join();
  const double secs = ms_since(t0) / 1000;
  report("SMACS beside the feedback", beside);
  std::printf("feedback: %d recorded, %d rate-limited, %d other in %.1f s (%.0f/s)\n",
              recorded.load(), limited.load(), other.load(), secs, recorded / secs);
  std::printf("p50 moved by %+.2f ms (target: < 2 ms)\n", pct(beside, 0.5) - pct(alone, 0.5));
  const auto after = c.Post("/admin/reload", "", "application/json");
  const long questions = after ? json::parse(after->body).value("questions", 0L) : -1;
  std::printf("bank: %ld questions before, %ld after a reload (+%ld; %d feedbacks recorded)\n",
              start_questions, questions, questions - start_questions, recorded.load());
  return questions - start_questions == recorded ? 0 : 1;
}

// A pass-through request through one door: its path and body.
std::pair<const char*, std::string> door_request(const std::string& api, const std::string& model,
                                                 const std::string& q) {
  if (api == "responses") return {"/v1/responses", json{{"model", model}, {"input", q}}.dump()};
  if (api == "messages")
    return {"/v1/messages", json{{"model", model},
                                 {"max_tokens", 256},
                                 {"messages", {{{"role", "user"}, {"content", q}}}}}
                                .dump()};
  return {"/v1/chat/completions", chat(model, q)};
}

int pass_rate(const Options& o) {
  static const auto qs = questions();
  std::atomic<long> ok{0}, failed{0};
  const auto start = Clock::now();
  const auto until = start + std::chrono::seconds(o.seconds);
  std::vector<std::thread> ts;
  for (int t = 0; t < o.clients; ++t)
    ts.emplace_back([&, t] {
      auto c = client(o, o.key);
      for (size_t i = t; Clock::now() < until; i += o.clients) {
        const auto [path, body] = door_request(o.api, o.model, qs[i % qs.size()]);
        auto r = c.Post(path, body, "application/json");
        if (r && r->status == 200)
          ++ok;
        else
          ++failed;
      }
    });
  for (auto& t : ts) t.join();
  const double secs = ms_since(start) / 1000;
  std::printf(
      "pass-rate %s via %s on port %d: %.0f req/s (%ld ok, %ld failed, %d clients, %.1f s)\n",
      o.model.c_str(), o.api.c_str(), o.port, ok / secs, ok.load(), failed.load(), o.clients, secs);
  return 0;
}

// Closed-loop pass-through requests for `model` from `clients` clients until `stop`; latencies
// (and, given `started`, when each began: ms after `epoch`).
std::vector<double> pass_traffic(const Options& o, int clients, const std::atomic<bool>& stop,
                                 std::vector<double>* started = nullptr,
                                 Clock::time_point epoch = Clock::now()) {
  static const auto qs = questions();
  std::mutex mutex;
  std::vector<double> lat;
  std::vector<std::thread> ts;
  const auto until = Clock::now() + std::chrono::seconds(600);  // bounded whatever happens
  for (int t = 0; t < clients; ++t)
    ts.emplace_back([&, t] {
      auto c = client(o, o.key);
      for (size_t i = t; !stop && Clock::now() < until; i += clients) {
        const auto start = Clock::now();
        auto r =
            c.Post("/v1/chat/completions", chat(o.model, qs[i % qs.size()]), "application/json");
        if (!r || r->status != 200) continue;
        std::lock_guard lock(mutex);
        lat.push_back(ms_since(start));
        if (started)
          started->push_back(std::chrono::duration<double, std::milli>(start - epoch).count());
      }
    });
  for (auto& t : ts) t.join();
  return lat;
}

// The five slowest requests: when each began, and where that fell in the reloads (the ms since
// a reload began, or "between").
void print_slowest(const std::vector<double>& lat, const std::vector<double>& started,
                   const std::vector<double>& reload_at, const std::vector<double>& reload_ms) {
  std::vector<size_t> order(lat.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  const size_t n = std::min<size_t>(5, order.size());
  std::partial_sort(order.begin(), order.begin() + n, order.end(),
                    [&](size_t a, size_t b) { return lat[a] > lat[b]; });
  for (size_t j = 0; j < n; ++j) {
    const size_t i = order[j];
    std::string where = reload_at.empty() ? "" : "  between reloads";
    for (size_t r = 0; r < reload_at.size(); ++r)
      if (started[i] + lat[i] >= reload_at[r] && started[i] <= reload_at[r] + reload_ms[r])
        where = "  in reload " + std::to_string(r) + " (began " +
                std::to_string(static_cast<int>(started[i] - reload_at[r])) +
                " ms after it, which took " + std::to_string(static_cast<int>(reload_ms[r])) +
                " ms)";
    std::printf("    slow: %.1f ms at %.0f ms%s\n", lat[i], started[i], where.c_str());
  }
}

// Pass-through and SMACS clients (half each of --clients) for --seconds, then the same while
// --calls reloads of the bank run one after another: how much a reload slows pass-through.
// Then a control: the same traffic, no reload, for as long as the reloads took. The slowest of
// many requests grows with their number, and this machine stalls now and then on its own; the
// control's slowest, against the same baseline p99, says how much of a miss is the rig's.
int reloads(const Options& o) {
  auto phase = [&](bool reload, double control_ms) {
    std::atomic<bool> stop{false};
    std::vector<double> pass, started;
    const auto start = Clock::now();
    std::thread passing([&] { pass = pass_traffic(o, o.clients / 2, stop, &started, start); });
    std::thread smacs(
        [&] { (void)smacs_traffic(o, 600, o.clients / 2, nullptr, 1u << 30, &stop); });
    std::vector<double> reload_ms, reload_at;
    std::printf("    phase begins at monotonic %.3f s\n",
                std::chrono::duration<double>(start.time_since_epoch()).count());
    if (reload) {
      auto c = client(o, o.key);
      c.set_read_timeout(600, 0);
      for (int i = 0; i < o.calls; ++i) {
        const auto t0 = Clock::now();
        reload_at.push_back(ms_since(start));
        auto r = c.Post("/admin/reload", "", "application/json");
        if (!r || r->status != 200) std::printf("  reload %d failed: %d\n", i, r ? r->status : 0);
        reload_ms.push_back(ms_since(t0));
      }
    } else {
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(control_ms));
    }
    const double secs = ms_since(start) / 1000;
    stop = true;
    passing.join();
    smacs.join();
    if (reload) {
      std::printf("%d reloads in %.1f s (each p50 %.0f ms, max %.0f ms):", o.calls, secs,
                  pct(reload_ms, 0.5), pct(reload_ms, 1.0));
      for (double ms : reload_ms) std::printf(" %.0f", ms);
      std::printf(" ms\n");
    }
    print_slowest(pass, started, reload_at, reload_ms);
    return std::make_pair(pass, secs * 1000);
  };
  std::printf("%d clients (%d pass-through to %s, %d SMACS)\n", o.clients, o.clients / 2,
              o.model.c_str(), o.clients / 2);
  const auto base = phase(false, o.seconds * 1000.0).first;
  report("pass-through, no reload", base);
  const auto [during, during_ms] = phase(true, 0);
  report("pass-through during the reloads", during);
  const auto control = phase(false, during_ms).first;
  report("pass-through, control (no reload)", control);
  const double worst = pct(during, 1.0), p99 = pct(base, 0.99);
  std::printf(
      "slowest pass-through during the reloads: %.1f ms = baseline p99 %+.1f ms "
      "(target: <= +50 ms)\n",
      worst, worst - p99);
  std::printf(
      "slowest pass-through in the control, as long without reloads: %.1f ms = baseline p99 "
      "%+.1f ms\n",
      pct(control, 1.0), pct(control, 1.0) - p99);
  return worst - p99 <= 50 ? 0 : 1;
}

// One SMACS request at a time (--calls of them) to a gateway in aggregate mode whose
// aggregator sends huge replies, beside pass-through clients: their slowest, each SMACS
// request's time, and the server's RSS before, after and a little later.
int big_aggregate(const Options& o) {
  static const auto qs = questions();
  const long before = status_field(o.pid, "VmRSS:");
  std::atomic<bool> stop{false};
  std::vector<double> pass, started;
  const auto start = Clock::now();
  std::printf("    phase begins at monotonic %.3f s\n",
              std::chrono::duration<double>(start.time_since_epoch()).count());
  std::thread passing([&] { pass = pass_traffic(o, o.clients, stop, &started, start); });
  std::vector<double> smacs;
  auto c = client(o, o.key);
  long peak = before;
  for (int i = 0; i < o.calls; ++i) {
    const auto t0 = Clock::now();
    auto r = c.Post("/v1/chat/completions", chat("smacs", qs[i % qs.size()]), "application/json");
    smacs.push_back(ms_since(t0));
    peak = std::max(peak, status_field(o.pid, "VmRSS:"));
    if (!r || r->status != 200)
      std::printf("  SMACS %d: %d %s\n", i, r ? r->status : 0,
                  r ? r->body.substr(0, 200).c_str() : "no reply");
    else if (i == 0)
      std::printf("  fallback: %s\n",
                  json::parse(r->body)["smacs"]["aggregate"]["fallback"].dump().c_str());
  }
  stop = true;
  passing.join();
  const long after = status_field(o.pid, "VmRSS:");
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const long later = status_field(o.pid, "VmRSS:");
  report("pass-through beside the aggregate requests", pass);
  print_slowest(pass, started, {}, {});
  std::printf("slowest pass-through: %.1f ms (target < 50 ms)\n", pct(pass, 1.0));
  std::printf("SMACS requests: max %.0f ms (deadline: the gateway's request_timeout_ms)\n",
              pct(smacs, 1.0));
  std::printf(
      "RSS: %ld MiB before, %ld peak, %ld after, %ld 3 s later (%+ld MiB; target: "
      "within 50)\n",
      before / 1024, peak / 1024, after / 1024, later / 1024, (later - before) / 1024);
  return pct(pass, 1.0) < 50 && later - before <= 50 * 1024 ? 0 : 1;  // a missed target fails
}

int usage() {
  std::fprintf(stderr, "%s", kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--port")
      o.port = std::stoi(next());
    else if (a == "--pid")
      o.pid = std::stoi(next());
    else if (a == "--calls")
      o.calls = std::stoi(next());
    else if (a == "--model")
      o.model = next();
    else if (a == "--seconds")
      o.seconds = std::min(60, std::stoi(next()));
    else if (a == "--rate")
      o.rate = std::min(5000, std::stoi(next()));
    else if (a == "--kb")
      o.kb = std::stoi(next());
    else if (a == "--clients")
      o.clients = std::stoi(next());
    else if (a == "--key")
      o.key = next();
    else if (a == "--api")
      o.api = next();
    else if (o.scenario.empty() && a[0] != '-')
      o.scenario = a;
    else
      return usage();
  }
  if (o.port == 0 || o.pid == 0) return usage();
  if (o.scenario == "slow-pass") return slow_pass(o);
  if (o.scenario == "reloads") return reloads(o);
  if (o.scenario == "big-aggregate") return big_aggregate(o);
  if (o.scenario == "big-bodies") return big_bodies(o);
  if (o.scenario == "feedback") return feedback(o);
  if (o.scenario == "pass-rate") return pass_rate(o);
  return usage();
}
