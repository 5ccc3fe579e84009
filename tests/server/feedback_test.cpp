// Online feedback and live bank reloads (SIGHUP, /admin/reload).
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <filesystem>
#include <thread>

#include "bank/bank_store.h"
#include "data/load.h"
#include "server/gateway_server.h"
#include "server/replay_server.h"
#include "server/view_reaper.h"
#include "server/wiring.h"
#include "test_util.h"

using namespace smacs;
using nlohmann::json;

namespace {

// Two models on a tiny two-question data set; replay-serve answers for both.
Dataset tiny() {
  Dataset d;
  d.models = {"alpha", "beta"};
  d.records.push_back({"q1",
                       "trivia",
                       "Which planet is called the red planet?",
                       "Mars",
                       {1, 0},
                       {"Mars", "Venus"},
                       {},
                       "",
                       ""});
  d.records.push_back({"q2",
                       "trivia",
                       "Which planet has the great red spot?",
                       "Jupiter",
                       {1, 1},
                       {"Jupiter", "Jupiter"},
                       {},
                       "",
                       ""});
  return d;
}

json post(httplib::Client& c, const std::string& path, const json& body,
          const std::string& key = "k") {
  httplib::Headers h{{"Authorization", "Bearer " + key}};
  auto res = c.Post(path, h, body.dump(), "application/json");
  if (!res) return {{"status", 0}};
  json j = json::parse(res->body, nullptr, false);
  j["http_status"] = res->status;
  return j;
}

json chat(const std::string& q) {
  return {{"model", "smacs"}, {"messages", json::array({{{"role", "user"}, {"content", q}}})}};
}

}  // namespace

TEST(Feedback, ScoresAnAnswerIntoTheBankAndTheFile) {
  const auto replay = test::serve_replay(tiny());
  const std::string bank_path = test::temp_path("feedback.sqlite");
  save_bank(tiny(), bank_path);

  ServerConfig config;
  config.port = 0;
  config.threads = 16;
  config.api_keys = {"k"};
  config.bank_files = {bank_path};
  config.params.k = 2;
  config.params.p_drop = 0;
  std::vector<std::unique_ptr<Backend>> backends;
  for (const char* m : {"alpha", "beta"}) {
    HttpBackendConfig b;
    b.name = m;
    b.base_url = "http://127.0.0.1:" + std::to_string(replay->port) + "/v1";
    backends.push_back(make_http_backend(b));
  }
  Metrics metrics;
  Gateway gateway(open_bank(bank_path), config.params, std::move(backends), metrics,
                  {.fanout_threads = 8, .bank_file = bank_path});
  test::Serving<GatewayServer> running(std::make_unique<GatewayServer>(config, gateway, metrics));
  httplib::Client c("127.0.0.1", running.port);

  const json answer =
      post(c, "/v1/chat/completions", chat("Which planet is called the red planet?"));
  ASSERT_EQ(answer["http_status"], 200) << answer;
  const std::string id = answer["id"];
  EXPECT_EQ(post(c, "/v1/feedback", {{"id", id}, {"score", 2}})["http_status"], 400);
  EXPECT_EQ(post(c, "/v1/feedback", {{"score", 1}})["http_status"], 400);
  EXPECT_EQ(post(c, "/v1/feedback", {{"id", id}, {"score", 1}, {"model", "gamma"}})["http_status"],
            400);
  EXPECT_EQ(post(c, "/v1/feedback", {{"id", "chatcmpl-nope"}, {"score", 1}})["http_status"], 404);
  EXPECT_EQ(post(c, "/v1/feedback", {{"id", id}, {"score", 1}}, "wrong-key")["http_status"], 401);
  const json ok = post(c, "/v1/feedback", {{"id", id}, {"score", 0.0}, {"model", "beta"}});
  ASSERT_EQ(ok["http_status"], 200) << ok;
  EXPECT_EQ(ok["model"], "beta");
  EXPECT_EQ(ok["bank_questions"], 3);
  EXPECT_EQ(gateway.bank_questions(), 3u);
  EXPECT_EQ(post(c, "/v1/feedback", {{"id", id}, {"score", 1}})["http_status"],
            404);  // one score per answer

  // Durable: the file has the new question with beta's score.
  const Dataset on_disk = load_bank_data(bank_path);
  ASSERT_EQ(on_disk.records.size(), 3u);
  EXPECT_EQ(on_disk.records[2].id, "feedback:" + id);
  EXPECT_EQ(on_disk.records[2].question, "Which planet is called the red planet?");
  EXPECT_EQ(on_disk.records[2].scores[on_disk.model_index("beta")], 0.0f);
  EXPECT_TRUE(is_missing(on_disk.records[2].scores[on_disk.model_index("alpha")]));

  // The admin reload re-reads the file (and needs the key).
  EXPECT_EQ(post(c, "/admin/reload", json::object(), "wrong-key")["http_status"], 401);
  const json reloaded = post(c, "/admin/reload", json::object());
  EXPECT_EQ(reloaded["http_status"], 200) << reloaded;
  EXPECT_EQ(reloaded["questions"], 3);
}

TEST(Reload, SighupMakesARunningServerSeeAnAddedModel) {
  // The pool has "beta" but the bank does not: cold start, proxy 0. add-model, SIGHUP, warm.
  const auto replay = test::serve_replay(tiny());
  Dataset alpha_only = tiny();
  alpha_only.models = {"alpha"};
  for (auto& r : alpha_only.records) r.scores.resize(1), r.responses.resize(1);
  const std::string bank = test::temp_path("reload.sqlite");
  save_bank(alpha_only, bank);
  const std::string url = "http://127.0.0.1:" + std::to_string(replay->port) + "/v1";
  const std::string config = test::write_temp(
      "reload.yaml", "listen: 127.0.0.1:0\nbank: " + bank +
                         "\nsmacs: {k: 2, p_drop: 0}\npool:\n  - {name: alpha, base_url: " + url +
                         "}\n  - {name: beta, base_url: " + url + "}\n");
  const std::string log = test::temp_path("reload.log");
  std::filesystem::remove(log);
  const pid_t pid = test::spawn_smacs("serve --config " + config, log);
  const int port = test::wait_for_port(log);  // port 0: the server picks a free one
  ASSERT_GT(port, 0) << "smacs serve did not start";
  httplib::Client c("127.0.0.1", port);
  auto beta_proxy = [&] {
    for (int i = 0; i < 100; ++i) {
      const json j = post(c, "/v1/chat/completions", chat("Which planet has the great red spot?"));
      if (j["http_status"] == 200) return j["smacs"]["proxy_scores"]["beta"].get<double>();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1.0;
  };
  EXPECT_EQ(beta_proxy(), 0.0);
  const auto add = test::run_smacs("prior add-model beta --config " + config + " --bank " + bank);
  ASSERT_EQ(add.exit_code, 0) << add.output;
  ::kill(pid, SIGHUP);
  double after = 0;
  for (int i = 0; i < 50 && after == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    after = beta_proxy();
  }
  EXPECT_GT(after, 0.0);
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

// Before: a SIGHUP reload that ran out of memory threw std::bad_alloc on the signal watcher's
// thread, which ended the gateway (std::terminate); /admin/reload said "internal error".
TEST(Reload, ABankTooBigForMemoryLeavesTheOldBankAndTheGatewayUp) {
  const auto replay = test::serve_replay(tiny());
  const std::string bank = test::temp_path("growing_bank.jsonl");
  write_smacs_jsonl(tiny(), bank);
  const std::string url = "http://127.0.0.1:" + std::to_string(replay->port) + "/v1";
  const std::string config = test::write_temp(
      "growing.yaml", "listen: 127.0.0.1:0\nbank: " + bank +
                          "\nfeedback_journal: none\napi_keys: [k]\npool:\n  - {name: alpha, "
                          "base_url: " +
                          url + "}\n  - {name: beta, base_url: " + url + "}\n");
  const std::string log = test::temp_path("growing.log");
  const pid_t pid = test::spawn_smacs("serve --config " + config, log);
  const int port = test::wait_for_port(log);
  ASSERT_GT(port, 0) << "smacs serve did not start";
  httplib::Client c("127.0.0.1", port);
  ASSERT_EQ(post(c, "/v1/chat/completions",
                 chat("Which planet is called the red planet?"))["http_status"],
            200);
  // The gateway may use 768 MiB more address space than it has now; the bank becomes 4 GiB.
  const std::string status = test::file_text("/proc/" + std::to_string(pid) + "/status");
  const rlim_t bytes =
      (std::stoull(status.substr(status.find("VmSize:") + 7)) << 10) + (768ull << 20);
  const rlimit limit{bytes, bytes};
  ASSERT_EQ(::prlimit(pid, RLIMIT_AS, &limit, nullptr), 0);
  std::filesystem::resize_file(bank, 4ull << 30);
  ::kill(pid, SIGHUP);
  const std::string said = test::wait_for_text(  // reading zeros up to the limit takes a moment
      log, [](const std::string& text) { return text.find("SIGHUP: reload failed") != text.npos; },
      30);
  EXPECT_NE(said.find("SIGHUP: reload failed, the old bank stays: out of memory"),
            std::string::npos)
      << said;
  const json reload = post(c, "/admin/reload", json::object());
  EXPECT_EQ(reload["http_status"], 500) << reload;
  EXPECT_EQ(reload["error"]["message"], "reload failed, the old bank stays: out of memory");
  EXPECT_EQ(post(c, "/v1/chat/completions",
                 chat("Which planet is called the red planet?"))["http_status"],
            200);
  std::filesystem::remove(bank);
  ::kill(pid, SIGTERM);
  int exit_status = 0;
  ::waitpid(pid, &exit_status, 0);
  EXPECT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 0) << exit_status;
}

namespace {

// A gateway over the tiny bank with one backend nobody calls: remember() and feedback alone.
struct BareGateway {
  Metrics metrics;
  std::unique_ptr<Gateway> gateway;
  explicit BareGateway(const std::string& journal = "") {
    ServerConfig config;
    config.pool.emplace_back().http = {.name = "alpha", .base_url = "http://127.0.0.1:1/v1"};
    config.feedback_journal = journal;
    config.feedback_per_second = 1e6;
    gateway = make_gateway(config, build_bank(tiny()), SmacsParams{}, metrics);
  }
  void remember(const std::string& id) {
    GatewayAnswer a;
    a.chosen = "alpha";
    a.answered = {"alpha"};
    a.task = "trivia";
    gateway->remember(id, "Which planet is the largest?", a, "");
  }
};

}  // namespace

// Hostile run 3: a reload read the bank while holding the lock every answer's remember() needs
// on the shared backend I/O thread, so pass-through stalled 1.5-2.2 s per reload.
TEST(Reload, RememberingAnswersDoesNotWaitForAReload) {
  BareGateway g;
  std::atomic<bool> loading{false};
  std::thread reload([&] {
    g.gateway->reload([&] {
      loading = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // a large bank's read
      return build_bank(tiny());
    });
  });
  while (!loading) std::this_thread::yield();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) g.remember("chatcmpl-" + std::to_string(i));
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  reload.join();
  EXPECT_LT(ms, 500) << "remember() waited for the reload";
  // And a feedback that arrives during a reload lands in the new bank, once.
  const auto r = g.gateway->feedback("chatcmpl-7", "", 1.0f, "");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(g.gateway->bank_questions(), 3u);
}

// Hostile run 3: concurrent feedback into a SQLite journal got spurious 503s ("cannot start a
// transaction within a transaction"): begin, the writes and commit were locked one by one.
TEST(Feedback, ConcurrentFeedbackIntoASqliteJournalIsNeverRefused) {
  const std::string journal = test::temp_path("concurrent-feedback.sqlite");
  std::filesystem::remove(journal);
  BareGateway g(journal);
  constexpr int kThreads = 8, kEach = 40;
  for (int i = 0; i < kThreads * kEach; ++i) g.remember("id-" + std::to_string(i));
  std::atomic<int> refused{0};
  std::string first_error;
  std::mutex m;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const auto r = g.gateway->feedback("id-" + std::to_string(t * kEach + i), "", 1.0f, "");
        if (r.ok()) continue;
        ++refused;
        std::lock_guard lock(m);
        if (first_error.empty()) first_error = r.error().message;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(refused, 0) << first_error;
  EXPECT_EQ(BankFile::open(journal, BankFile::Mode::kRead)->load().records.size(),
            static_cast<size_t>(kThreads * kEach));
}

// Hostile run 3: the bank a reload replaced was freed by whichever thread finished the last
// request planned on it, often the I/O thread all backend calls share (a million-question bank
// takes hundreds of milliseconds to free). It is freed on the reaper's thread now.
TEST(Reload, AReplacedBankIsFreedOffTheRequestPath) {
  std::atomic<bool> freed{false};
  std::thread::id freed_on;
  {
    ViewReaper<int> reaper;
    auto view = std::shared_ptr<int>(new int(1), [&](int* p) {
      freed_on = std::this_thread::get_id();
      delete p;
      freed = true;
    });
    auto request = view;  // a request still planning on it
    reaper.retire(std::move(view));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_FALSE(freed) << "freed while a request held it";
    request.reset();  // the request's thread lets go: it must not pay for the free
    for (int i = 0; i < 100 && !freed; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_TRUE(freed);
  }
  EXPECT_NE(freed_on, std::this_thread::get_id());
}
