// Many gateways, one bank: two `smacs serve` replicas (the real binary) over one real
// PostgreSQL 15 on loopback, replay-serve as the models. Feedback sent to one replica reaches
// the other's routing; `prior add-model` on the database reaches both; the database going
// away leaves the answers alone, refuses feedback with a 503, and /ready says so.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "data/load.h"
#include "postgres_fixture.h"
#include "server/replay_server.h"
#include "test_util.h"

namespace smacs {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

const std::vector<std::string> kPool = {
    "zero-one-ai/Yi-34B-Chat",   "mistralai/mixtral-8x7b-chat",       "meta/llama-2-70b-chat",
    "mistralai/mistral-7b-chat", "meta/code-llama-instruct-34b-chat", "WizardLM/WizardLM-13B-V1.2"};
const char* kCold = "WizardLM/WizardLM-13B-V1.2";  // not in the bank at first

std::string rb(const std::string& split) {
  return test::data_file("routerbench/arc_challenge_" + split + ".csv");
}

struct Replica : test::ServeProcess {
  Replica(const std::string& config, const std::string& name)
      : ServeProcess(config, name + ".log") {}
  httplib::Client client() const {
    httplib::Client c = ServeProcess::client();
    c.set_read_timeout(10, 0);
    return c;
  }
  // GET /ready's body; {"status": "no answer ..."} when none came (a failure, not a crash).
  json ready_status() const {
    const auto r = client().Get("/ready");
    if (!r) return {{"status", "no answer: " + httplib::to_string(r.error())}};
    json body = json::parse(r->body, nullptr, false);
    if (!body.is_object()) return {{"status", "not a JSON object: " + r->body.substr(0, 200)}};
    return body;
  }
  json ask(const std::string& question) const {
    auto r = client().Post(
        "/v1/chat/completions",
        json{{"model", "smacs"}, {"messages", {{{"role", "user"}, {"content", question}}}}}.dump(),
        "application/json");
    if (!r || r->status != 200) return json();
    return json::parse(r->body);
  }
  int ready() const {
    auto r = client().Get("/ready");
    return r ? r->status : 0;
  }
  httplib::Result feedback(const std::string& id, const std::string& model, double score) const {
    return client().Post("/v1/feedback",
                         json{{"id", id}, {"model", model}, {"score", score}}.dump(),
                         "application/json");
  }
};

// Waits up to `ms` for `done`; returns the milliseconds it took (-1: never).
template <class F>
double within(int ms, F done) {
  const auto start = Clock::now();
  while (Clock::now() - start < std::chrono::milliseconds(ms)) {
    if (done()) return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

class Replicas : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg_ = new test::PostgresServer();
    url_ = pg_->fresh_database("replicas");
    Dataset all = load_files({rb("train"), rb("test")});
    replay_ = test::serve_replay(std::move(all)).release();
    ASSERT_EQ(test::run_smacs("prior import --data " + rb("train") + " --out " + url_).exit_code,
              0);
    ASSERT_EQ(
        test::run_smacs("prior remove-model " + std::string(kCold) + " --bank " + url_).exit_code,
        0);
    std::string pool;
    for (const auto& m : kPool)
      pool += "  - {name: " + m +
              ", base_url: \"http://127.0.0.1:" + std::to_string(replay_->port) + "/v1\"}\n";
    config_ =
        test::write_temp("replica.yaml", "listen: 127.0.0.1:0\naccess_log: none\nbank: " + url_ +
                                             "\nbank_poll_ms: 200\nbank_grace_ms: 1000\n"
                                             "smacs: {k: 3, p_drop: 0}\npool:\n" +
                                             pool);
    a_ = new Replica(config_, "replica-a");
    b_ = new Replica(config_, "replica-b");
  }
  static void TearDownTestSuite() {
    delete a_;
    delete b_;
    delete replay_;
    delete pg_;
  }
  static inline test::PostgresServer* pg_ = nullptr;
  static inline std::string url_, config_;
  static inline test::Serving<ReplayServer>* replay_ = nullptr;
  static inline Replica *a_ = nullptr, *b_ = nullptr;
};

// A test question's id and chosen model on `r`, and `other`'s proxy scores for it.
struct Asked {
  std::string id, chosen;
  json proxy;
};
Asked ask_both(const Replica& r, const Replica& other, const std::string& question) {
  const json answer = r.ask(question);
  return {answer.value("id", ""), answer["smacs"].value("chosen", ""),
          other.ask(question)["smacs"]["proxy_scores"]};
}

TEST_F(Replicas, FeedbackToOneReplicaReachesTheOthersProxyScoresWithinASecond) {
  ASSERT_GT(a_->port, 0) << a_->log_text();
  ASSERT_GT(b_->port, 0) << b_->log_text();
  const Dataset test_split = load_file(rb("test"));
  const std::string q = test_split.records[5].question;
  const Asked asked = ask_both(*a_, *b_, q);
  ASSERT_FALSE(asked.id.empty());
  auto questions = [](const Replica* r) { return r->ready_status().value("questions", -1); };
  const int bank_before = questions(a_);
  const double before = asked.proxy[asked.chosen];
  auto r = a_->feedback(asked.id, asked.chosen, before > 0.5 ? 0.0 : 1.0);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const double ms = within(5000, [&] {
    return b_->ask(q)["smacs"]["proxy_scores"][asked.chosen].get<double>() != before;
  });
  std::printf("feedback on A reached B's proxy scores in %.0f ms\n", ms);
  EXPECT_GE(ms, 0) << "B never saw it";
  EXPECT_LT(ms, 1000);
  // A folded it in at once, and holds it once: not again when its own follower sees it.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // a few of its polls
  EXPECT_EQ(questions(a_), bank_before + 1);
  EXPECT_EQ(questions(b_), bank_before + 1);
  const json status = b_->ready_status();
  EXPECT_EQ(status["status"], "ready");
  EXPECT_GE(status.value("appended", 0), 1);
}

TEST_F(Replicas, AddModelOnTheDatabaseReachesBothReplicas) {
  ASSERT_GT(a_->port, 0) << a_->log_text();
  ASSERT_GT(b_->port, 0) << b_->log_text();
  auto cold = [](const Replica* r) {  // a replica that did not answer is not counted as warm
    const json status = r->ready_status();
    return status.value("cold_models", status);
  };
  EXPECT_EQ(cold(a_), json::array({kCold})) << "no results in the bank at first\n"
                                            << a_->log_text();
  const auto added = test::run_smacs("prior add-model " + std::string(kCold) + " --config " +
                                     config_ + " --bank " + url_ + " --sample 60");
  ASSERT_EQ(added.exit_code, 0) << added.output;
  for (const Replica* r : {a_, b_}) {
    // (RouterBench records no gold answers, so its results grade 0 and the proxy stays 0: the
    // model's column is what shows it arrived.)
    const double ms = within(10000, [&] { return cold(r).empty(); });
    std::printf("add-model reached a replica in %.0f ms\n", ms);
    EXPECT_GE(ms, 0) << "a replica never saw the new model's results: " << cold(r) << "\n"
                     << r->log_text();
  }
}

TEST_F(Replicas, TheDatabaseDownAnswersGoOnFeedbackWaitsAndReadyTellsTheBalancer) {
  const Dataset test_split = load_file(rb("test"));
  const std::string q = test_split.records[11].question;
  ASSERT_GT(a_->port, 0) << a_->log_text();
  ASSERT_GT(b_->port, 0) << b_->log_text();
  const Asked asked = ask_both(*a_, *b_, q);
  ASSERT_EQ(a_->ready(), 200);
  pg_->stop();
  EXPECT_GE(within(5000, [&] { return a_->ready() == 503; }), 0) << "/ready stayed ready";
  int answered = 0;
  for (int i = 0; i < 20; ++i) answered += a_->ask(test_split.records[i].question).is_object();
  EXPECT_EQ(answered, 20) << "chat requests failed while the database was down";
  EXPECT_EQ(a_->client().Get("/health")->status, 200);
  auto refused = a_->feedback(asked.id, asked.chosen, 1.0);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503) << refused->body;
  EXPECT_TRUE(refused->has_header("Retry-After"));
  EXPECT_NE(refused->body.find("bank_unavailable"), std::string::npos);

  pg_->start();
  EXPECT_GE(within(10000, [&] { return a_->ready() == 200 && b_->ready() == 200; }), 0);
  const double before = asked.proxy[asked.chosen];
  auto r = a_->feedback(asked.id, asked.chosen, before > 0.5 ? 0.0 : 1.0);  // the id is kept
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_GE(within(5000,
                   [&] {
                     return b_->ask(q)["smacs"]["proxy_scores"][asked.chosen].get<double>() !=
                            before;
                   }),
            0)
      << "feedback after recovery did not reach B";
}

}  // namespace
}  // namespace smacs
