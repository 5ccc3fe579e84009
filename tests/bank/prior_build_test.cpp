// `smacs prior build` / `add-model` against replay-serve backends on loopback.
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "bank/bank_store.h"
#include "data/load.h"
#include "pipeline/smacs.h"
#include "answers/extract.h"
#include "server/replay_server.h"
#include "test_util.h"

using namespace smacs;

namespace {

std::string config_for(int port, const std::vector<std::string>& models, int concurrency) {
  std::string yaml = "pool:\n";
  for (const auto& m : models)
    yaml += "  - {name: " + m + ", base_url: http://127.0.0.1:" + std::to_string(port) +
            "/v1, max_concurrency: " + std::to_string(concurrency) + "}\n";
  return yaml;
}

// Labelled questions from RouterBench: gold = the letter of a model recorded as correct.
Dataset labelled_routerbench(size_t n) {
  Dataset d = load_file(test::data_file("routerbench/arc_challenge_test.csv"));
  Dataset out{{}, {}};
  std::set<std::string> ids;
  for (auto& r : d.records) {
    for (size_t m = 0; m < d.models.size() && r.gold.empty(); ++m)
      if (r.scores[m] == 1.0f) r.gold = extract_answer(AnswerKind::kChoice, r.responses[m]);
    if (r.gold.empty() || !ids.insert(r.id).second) continue;
    out.records.push_back({r.id, r.task, r.question, r.gold, {}, {}, {}, "", ""});
    if (out.records.size() == n) break;
  }
  return out;
}

std::map<std::string, std::vector<std::pair<float, std::string>>> results_by_id(const Dataset& d) {
  std::map<std::string, std::vector<std::pair<float, std::string>>> out;
  for (const auto& r : d.records)
    for (size_t m = 0; m < d.models.size(); ++m)
      out[r.id + " " + d.models[m]].push_back(
          {r.scores[m], r.responses.empty() ? "" : r.responses[m]});
  return out;
}

}  // namespace

TEST(PriorBuild, KillNineMidwayThenResumeEqualsAnUninterruptedBuild) {
  const auto replay =
      test::serve_replay(load_file(test::data_file("routerbench/arc_challenge_test.csv")),
                         /*latency_ms=*/25);
  const std::vector<std::string> models = {"zero-one-ai/Yi-34B-Chat", "meta/llama-2-70b-chat",
                                           "mistralai/mistral-7b-chat"};
  const std::string config = test::write_temp("build.yaml", config_for(replay->port, models, 2));
  const std::string labelled = test::temp_path("labelled.jsonl");
  write_smacs_jsonl(labelled_routerbench(120), labelled);
  const std::string killed = test::temp_path("killed.sqlite"),
                    clean = test::temp_path("clean.sqlite");
  for (const auto& f : {killed, clean}) std::filesystem::remove(f);
  const std::string args = "prior build --config " + config + " --data " + labelled + " --out ";

  const pid_t pid = test::spawn_smacs(args + killed);
  std::this_thread::sleep_for(std::chrono::milliseconds(900));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the build finished before it could be killed";
  const size_t partial = BankFile::open(killed, BankFile::Mode::kRead)->results_present().size();
  EXPECT_GT(partial, 0u);
  EXPECT_LT(partial, 360u);

  const auto resumed = test::run_smacs(args + killed);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find(std::to_string(partial) + " already in the bank"),
            std::string::npos)
      << resumed.output;
  const auto fresh = test::run_smacs(args + clean);
  ASSERT_EQ(fresh.exit_code, 0) << fresh.output;
  EXPECT_EQ(BankFile::open(killed, BankFile::Mode::kRead)->results_present().size(), 360u);
  EXPECT_EQ(results_by_id(load_bank_data(killed)), results_by_id(load_bank_data(clean)));
  EXPECT_EQ(test::run_smacs(args + clean).output.find("stored 0 results (360 already"),
            0u);  // nothing repeated
}

TEST(PriorBuild, AddModelOfASpecialistMakesRpsSelectItForItsTask) {
  // Two tasks with their own words; "specialist" is perfect at algebra and useless at poetry.
  Dataset recorded;
  recorded.models = {"generalist", "steady", "specialist"};
  for (int i = 0; i < 40; ++i) {
    const std::string n = std::to_string(i);
    const std::string sum = std::to_string(i + 7);
    recorded.records.push_back(
        {"alg" + n,
         "algebra",
         "Compute the sum of " + n + " plus 7 and simplify the algebra expression",
         sum,
         {1, 1, 1},
         {i % 3 ? sum : "0", i % 2 ? sum : "1", sum},
         {},
         "",
         "number"});
    recorded.records.push_back(
        {"poe" + n,
         "poetry",
         "Name the rhyme scheme of sonnet stanza number " + n + " in this poem",
         "abab",
         {1, 1, 1},
         {i % 3 ? "abab" : "aabb", i % 2 ? "abab" : "abba", "no idea"},
         {},
         "",
         "exact"});
  }
  const auto replay = test::serve_replay(recorded);
  const std::string labelled = test::temp_path("two_tasks.jsonl"),
                    bank = test::temp_path("grow.sqlite");
  Dataset questions = recorded;
  questions.models.clear();
  for (auto& r : questions.records) r.scores.clear(), r.responses.clear();
  write_smacs_jsonl(questions, labelled);
  std::filesystem::remove(bank);
  const std::string config =
      test::write_temp("grow.yaml", config_for(replay->port, recorded.models, 4));
  ASSERT_EQ(test::run_smacs("prior build --config " + config + " --data " + labelled + " --out " +
                            bank + " --models generalist,steady")
                .exit_code,
            0);

  auto top1_for = [&](const std::string& question) {
    const PriorBank b = open_bank(bank);
    std::vector<int> pool;
    for (size_t m = 0; m < b.data.models.size(); ++m) pool.push_back(static_cast<int>(m));
    SmacsParams p;
    const Plan plan = plan_from_neighbors(b, retrieve(b, question, p.rps), pool, p, question);
    return b.data.models[pool[plan.selection.ranked[0]]];
  };
  const std::string algebra = "Compute the sum of 99 plus 7 and simplify the algebra expression";
  const std::string poetry = "Name the rhyme scheme of sonnet stanza number 99 in this poem";
  EXPECT_NE(top1_for(algebra), "specialist");  // not in the bank yet

  const auto add =
      test::run_smacs("prior add-model specialist --config " + config + " --bank " + bank);
  ASSERT_EQ(add.exit_code, 0) << add.output;
  EXPECT_NE(add.output.find("stored 80 results"), std::string::npos) << add.output;
  EXPECT_EQ(top1_for(algebra), "specialist");
  EXPECT_NE(top1_for(poetry), "specialist");

  ASSERT_EQ(test::run_smacs("prior remove-model specialist --bank " + bank).exit_code, 0);
  EXPECT_NE(top1_for(algebra), "specialist");
  EXPECT_NE(test::run_smacs("prior remove-model nobody --bank " + bank).exit_code, 0);
}
