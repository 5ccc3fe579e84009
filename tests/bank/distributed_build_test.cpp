// `smacs prior build` by four workers against one real PostgreSQL, one killed with SIGKILL
// mid-way: the bank equals a single worker's build, and no pair was asked twice but those the
// killed worker had in flight (its claims are taken over once their lease runs out).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "bank/bank_store.h"
#include "fake_backend.h"
#include "postgres_fixture.h"
#include "test_util.h"

namespace smacs {
namespace {

using nlohmann::json;

constexpr int kQuestions = 240;
constexpr int kConcurrency = 2;  // per model and worker

std::string question_text(int i) {
  std::string q = "Question ";
  return q.append(std::to_string(i)).append(": A, B, C or D?");
}

// `n` labelled questions of one task in the temp file `name`: its path.
std::string write_labelled(const std::string& name, int n) {
  std::string labelled;
  for (int i = 0; i < n; ++i)
    labelled += json{{"id", std::to_string(i)},
                     {"task", "letters"},
                     {"question", question_text(i)},
                     {"gold", i % 2 ? "A" : "B"}}
                    .dump() +
                "\n";
  return test::write_temp(name, labelled);
}

// A config in the temp file `name` whose pool is the fake backend's `names`: its path.
std::string write_pool_config(const std::string& name, const test::FakeBackend& models,
                              const std::vector<std::string>& names) {
  std::string pool;
  for (const auto& m : names)
    pool.append("  - {name: \"")
        .append(m)
        .append("\", base_url: \"")
        .append(models.url())
        .append("\", max_concurrency: ")
        .append(std::to_string(kConcurrency))
        .append(", retries: 0}\n");
  return test::write_temp(name, "pool:\n" + pool);
}

TEST(DistributedBuild, FourWorkersOneKilledBuildWhatOneWorkerBuilds) {
  test::PostgresServer pg;
  test::FakeBackend models;
  const std::string data = write_labelled("build-labelled.jsonl", kQuestions);
  const std::string config = write_pool_config("build.yaml", models, {"slow:40", "slow:25"});
  const std::string shared = pg.fresh_database("shared_build");
  const std::string args = "prior build --config " + config + " --data " + data +
                           " --timeout-ms 2000 --lease-ms 1500 --out " + shared;

  std::vector<pid_t> workers;
  for (int w = 0; w < 4; ++w)
    workers.push_back(test::spawn_smacs(args, test::temp_path(std::to_string(w) + "-worker.log")));
  std::this_thread::sleep_for(std::chrono::milliseconds(700));  // mid-way: 480 calls take ~2 s
  ::kill(workers[0], SIGKILL);
  int killed_status = 0;
  ::waitpid(workers[0], &killed_status, 0);
  EXPECT_TRUE(WIFSIGNALED(killed_status)) << "the worker had finished before it was killed";
  for (size_t w = 1; w < workers.size(); ++w) {
    int status = 0;
    ::waitpid(workers[w], &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "worker " << w;
  }
  size_t twice = 0, never = 0;
  for (const char* m : {"slow:40", "slow:25"}) {
    const auto asked = models.calls_by_prompt(m);
    for (int i = 0; i < kQuestions; ++i) {
      const auto it = asked.find(question_text(i));
      if (it == asked.end())
        ++never;
      else if (it->second > 1)
        twice += it->second - 1;
    }
  }
  std::printf("4 workers, one killed: %zu pairs asked again (the killed worker's in flight)\n",
              twice);
  EXPECT_EQ(never, 0u);
  EXPECT_LE(twice, 2u * kConcurrency) << "more than the killed worker had in flight";

  const std::string single = pg.fresh_database("single_build");
  const auto one = test::run_smacs("prior build --config " + config + " --data " + data +
                                   " --timeout-ms 2000 --out " + single);
  ASSERT_EQ(one.exit_code, 0) << one.output;
  const Dataset a = BankFile::open(shared, BankFile::Mode::kRead)->load();
  const Dataset b = BankFile::open(single, BankFile::Mode::kRead)->load();
  ASSERT_EQ(a.records.size(), static_cast<size_t>(kQuestions));
  ASSERT_EQ(b.records.size(), a.records.size());
  std::map<std::string, const Record*> by_id;
  for (const auto& r : b.records) by_id[r.id] = &r;
  for (const auto& r : a.records) {
    const Record& s = *by_id.at(r.id);
    for (size_t m = 0; m < a.models.size(); ++m) {
      const int col = b.model_index(a.models[m]);
      ASSERT_GE(col, 0);
      EXPECT_FALSE(is_missing(r.scores[m])) << r.id << " " << a.models[m];
      EXPECT_EQ(r.scores[m], s.scores[static_cast<size_t>(col)]) << r.id;
      EXPECT_EQ(r.responses[m], s.responses[static_cast<size_t>(col)]);
    }
  }
}

// Before: the database going away mid-build threw from a worker thread (std::terminate: an
// abort and a debugger's backtrace); now one line, exit 1, and a rerun resumes.
TEST(DistributedBuild, TheDatabaseGoingAwayMidBuildIsOneLineAndExitOne) {
  test::PostgresServer pg;
  test::FakeBackend models;
  const std::string data = write_labelled("gone-labelled.jsonl", 200);
  const std::string config = write_pool_config("gone.yaml", models, {"slow:40"});
  const std::string bank = pg.fresh_database("gone_build");
  const std::string log = test::temp_path("gone-worker.log");
  const pid_t worker = test::spawn_smacs("prior build --config " + config + " --data " + data +
                                             " --timeout-ms 2000 --lease-ms 1500 --out " + bank,
                                         log);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // 200 calls take ~4 s
  pg.stop();
  int status = 0;
  ::waitpid(worker, &status, 0);
  const std::string said = test::file_text(log);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status << "\n" << said;
  EXPECT_NE(said.find("smacs: error: "), std::string::npos) << said;
  EXPECT_EQ(said.find("terminate called"), std::string::npos) << said;
  pg.start();  // the first run's claims are taken over once their lease (1.5 s) runs out
  const auto rerun = test::run_smacs("prior build --config " + config + " --data " + data +
                                     " --timeout-ms 2000 --lease-ms 1500 --out " + bank);
  EXPECT_EQ(rerun.exit_code, 0) << rerun.output;
  EXPECT_EQ(BankFile::open(bank, BankFile::Mode::kRead)->load().records.size(), 200u);
}

}  // namespace
}  // namespace smacs
