#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>

#include "answers/extract.h"
#include "core/error.h"
#include "data/load.h"
#include "grading/grader.h"
#include "test_util.h"

using namespace smacs;

namespace {
Record q(std::string question, std::string gold, std::string tests = "") {
  return Record{"q", "t", std::move(question), std::move(gold), {}, {}, {}, std::move(tests), ""};
}
}  // namespace

TEST(Grader, ChoiceNumberExact) {
  EXPECT_EQ(grade_response(q("Q?\nA. x\nB. y", "B"), AnswerKind::kChoice, "The answer is (B)."),
            1.0);
  EXPECT_EQ(grade_response(q("Q?\nA. x\nB. y", "B"), AnswerKind::kChoice, "A"), 0.0);
  EXPECT_EQ(
      grade_response(q("How many?", "1250"), AnswerKind::kNumber, "so 1,250 in total. #### 1250"),
      1.0);
  EXPECT_EQ(grade_response(q("How many?", "18"), AnswerKind::kNumber, "it is 17"), 0.0);
  EXPECT_EQ(grade_response(q("Capital of France?", "Paris"), AnswerKind::kText, " paris. "), 1.0);
  EXPECT_EQ(grade_response(q("Capital of France?", "Paris"), AnswerKind::kText, "Lyon"), 0.0);
  EXPECT_EQ(parse_answer_kind("code"), AnswerKind::kCode);
  EXPECT_EQ(parse_answer_kind("exact"), AnswerKind::kText);
  EXPECT_THROW(parse_answer_kind("vibes"), Error);
}

TEST(Grader, DefaultsFromTheTask) {
  std::vector<Record> qs = {q("Q?\nA. x\nB. y\nC. z", "A"), q("How many?", "12"),
                            q("def f():", "", "assert f() == 1")};
  qs[1].task = "math";
  qs[2].task = "code";
  qs[2].grader = "";
  const auto g = default_graders(qs);
  EXPECT_EQ(g[0], AnswerKind::kChoice);
  EXPECT_EQ(g[1], AnswerKind::kNumber);
  EXPECT_EQ(g[2], AnswerKind::kCode);
}

TEST(CodeGrader, PassFailAndHumanEvalCompletion) {
  const Record add = q("def add(a, b):\n", "", "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n");
  EXPECT_EQ(
      grade_response(add, AnswerKind::kCode, "```python\ndef add(a, b):\n    return a + b\n```"),
      1.0);
  EXPECT_EQ(grade_response(add, AnswerKind::kCode, "def add(a, b):\n    return a - b\n"), 0.0);
  EXPECT_EQ(grade_response(add, AnswerKind::kCode, "    return a + b\n"),
            1.0);  // a completion of the prompt
  EXPECT_EQ(grade_response(add, AnswerKind::kCode, "this is not python"), 0.0);
}

TEST(CodeGrader, LimitsHold) {
  CodeLimits limits;
  limits.wall_ms = 1500;
  limits.cpu_seconds = 1;
  limits.memory_mb = 256;
  const auto start = std::chrono::steady_clock::now();
  const CodeRun loop = run_python_sandboxed("while True:\n    pass\n", limits);
  EXPECT_FALSE(loop.passed);
  // Generous: the limits end it within 1.5 s; a busy machine must not fail the test.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
  const CodeRun sleeper =
      run_python_sandboxed("import time\ntime.sleep(60)\n", limits);  // wall time, no CPU
  EXPECT_TRUE(sleeper.timed_out);
  // The memory and directory cases end by themselves: a wall limit that a slow start of Python
  // could hit on a busy machine would tell "killed by the clock" apart from nothing (it once
  // failed so), so they get a long one and the memory limit alone must stop the hog.
  limits.wall_ms = 30000;
  const CodeRun hog = run_python_sandboxed("x = bytearray(2 * 1024 ** 3)\n", limits);
  EXPECT_FALSE(hog.timed_out) << "the memory limit, not the clock, must end it";
  EXPECT_FALSE(hog.passed);
  EXPECT_NE(hog.output.find("MemoryError"), std::string::npos) << hog.output;
  const CodeRun cwd = run_python_sandboxed(
      "import os\nassert os.getcwd().startswith('/tmp/smacs-code-')\n", limits);
  EXPECT_TRUE(cwd.passed) << cwd.output;
}

TEST(CodeGrader, NoNetwork) {
  httplib::Server server;  // a real server on loopback that the sandboxed code must not reach
  server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("hi", "text/plain");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread t([&] { server.listen_after_bind(); });
  std::string probe = "import urllib.request\nprint(urllib.request.urlopen('http://127.0.0.1:";
  probe += std::to_string(port);
  probe += "/', timeout=2).read())\n";
  httplib::Client direct("127.0.0.1", port);
  EXPECT_TRUE(direct.Get("/"));  // reachable from the test itself
  const CodeRun run = run_python_sandboxed(probe, {});
  EXPECT_FALSE(run.passed) << run.output;
  server.stop();
  t.join();
}

TEST(Grader, ReproducesRecordedRouterBenchCorrectness) {
  // Gold = the letter of a model the recording marks correct; then every recorded response is
  // graded and compared with its recorded correctness.
  const Dataset d = load_file(test::data_file("routerbench/arc_challenge_test.csv"));
  size_t graded = 0, agree = 0;
  for (const auto& r : d.records) {
    Record labelled = r;
    for (size_t m = 0; m < d.models.size() && labelled.gold.empty(); ++m)
      if (r.scores[m] == 1.0f) labelled.gold = extract_answer(AnswerKind::kChoice, r.responses[m]);
    if (labelled.gold.empty()) continue;
    for (size_t m = 0; m < d.models.size(); ++m) {
      if (is_missing(r.scores[m])) continue;
      ++graded;
      agree += grade_response(labelled, AnswerKind::kChoice, r.responses[m]) == r.scores[m];
    }
  }
  const double rate = static_cast<double>(agree) / static_cast<double>(graded);
  std::printf("graded %zu recorded responses: %.2f%% agree with the recorded correctness\n", graded,
              100 * rate);
  EXPECT_GT(graded, 4000u);
  EXPECT_GE(rate, 0.99);
}
