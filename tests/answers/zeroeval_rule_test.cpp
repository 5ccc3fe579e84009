// ZeroEval's own grading rule, reproduced: smacs reads ZeroEval's result files as ZeroEval
// does. smacs's grader differs from the rule on purpose (answers_test.cpp pins why); with the
// rule, every model's accuracy lands on the number ZeroEval published.
#include "answers/zeroeval_rule.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "data/load.h"
#include "test_util.h"

using namespace smacs;

TEST(ZeroEvalRule, ReadsTheFirstNumberAsZeroEvalDoes) {
  EXPECT_EQ(zeroeval_first_number("$105 - $90 = $15"), 105.0);  // the rule's known error
  EXPECT_EQ(zeroeval_first_number("$1,250"), 1250.0);
  EXPECT_EQ(zeroeval_first_number("3/4"), 0.75);  // a plain a/b is divided out
  EXPECT_EQ(zeroeval_first_number(" 6 / 2 "), 3.0);
  EXPECT_EQ(zeroeval_first_number("\\frac{3}{5}"), 3.0);  // and \frac is not
  EXPECT_EQ(zeroeval_first_number("-5 dollars"), -5.0);
  EXPECT_EQ(zeroeval_first_number("x = 2.50."), 2.5);
  EXPECT_EQ(zeroeval_first_number("none"), std::nullopt);
  EXPECT_TRUE(
      zeroeval_rule_correct("m", "{\"reasoning\": \"...\", \"answer\": \"18 eggs\"}", "# 18"));
  EXPECT_FALSE(zeroeval_rule_correct("m", "{\"answer\": \"$105 - $90 = $15\"}", "# 15"));
  EXPECT_FALSE(zeroeval_rule_correct("m", "The answer is \\boxed{36}", "36"));
  EXPECT_TRUE(zeroeval_rule_correct("Meta-Llama-3.1-8B", "The answer is \\boxed{36}", "36"));
}

TEST(ZeroEvalRule, ReproducesEveryPublishedAccuracy) {
  struct Published {
    const char* model;
    double gsm, math;
  };
  // ZeroEval's result_dirs/<bench>.summary.json, as ../shared/data/README.md lists them.
  const std::vector<Published> published = {
      {"Athene-70B", 86.66, 20.67},
      {"Llama-3.1-405B-Inst@sambanova", 95.91, 49.79},
      {"Meta-Llama-3-70B-Instruct", 93.03, 25.10},
      {"Meta-Llama-3-8B-Instruct", 78.47, 7.91},
      {"Meta-Llama-3.1-70B-Instruct", 94.16, 43.13},
      {"Meta-Llama-3.1-8B-Instruct", 84.00, 22.19},
      {"Mistral-Large-2", 95.53, 48.54},
      {"Phi-3.5-mini-instruct", 82.03, 18.72},
      {"Qwen2-72B-Instruct", 92.65, 38.28},
      {"Qwen2-7B-Instruct", 80.06, 23.86},
      {"Yi-1.5-34B-Chat", 84.08, 18.17},
      {"Yi-1.5-9B-Chat", 76.42, 19.97},
      {"deepseek-v2.5-0908", 92.49, 44.66},
      {"gemma-2-2b-it", 51.63, 4.30},
      {"gemma-2-9b-it", 87.41, 19.42},
      {"claude-3-5-sonnet-20240620", 95.60, 51.87},
      {"claude-3-haiku-20240307", 88.78, 15.12},
      {"claude-3-opus-20240229", 95.60, 36.89},
      {"gemini-1.5-flash", 91.36, 34.81},
      {"gemini-1.5-pro", 93.40, 39.81},
      {"gpt-3.5-turbo-0125", 80.36, 13.73},
      {"gpt-4o-2024-05-13", 95.38, 54.79},
      {"gpt-4o-2024-08-06", 96.21, 55.34},
      {"gpt-4o-mini-2024-07-18", 94.24, 52.15},
      {"o1-mini-2024-09-12", 96.06, 89.32},
      {"reka-core-20240501", 87.41, 21.91},
  };
  Dataset d = load_files({test::data_file("zeroeval/gsm"), test::data_file("zeroeval/math-l5")});
  regrade_with_zeroeval_rule(d);
  ASSERT_EQ(d.models.size(), published.size());
  for (const auto& p : published) {
    const int m = d.model_index(p.model);
    ASSERT_GE(m, 0) << p.model;
    double right[2] = {0, 0}, n[2] = {0, 0};
    for (const auto& r : d.records) {
      const int b = r.task == "gsm" ? 0 : 1;
      right[b] += r.scores[static_cast<size_t>(m)];
      ++n[b];
    }
    EXPECT_NEAR(100.0 * right[0] / n[0], p.gsm, 0.2) << p.model << " on GSM8K";
    EXPECT_NEAR(100.0 * right[1] / n[1], p.math, 0.2) << p.model << " on MATH-L5";
  }
}

TEST(ZeroEvalRule, GradeCommandPrintsAndWritesBothRules) {
  const std::string file = test::data_file("zeroeval/gsm/gpt-4o-2024-08-06.json.gz");
  const std::string out = test::temp_path("grade.json");
  const auto r = test::run_smacs("grade --data " + file + " --rule zeroeval --json " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("96.21"), std::string::npos) << r.output;
  const auto report = nlohmann::json::parse(std::ifstream(out));
  EXPECT_EQ(report["rule"], "zeroeval");
  EXPECT_NEAR(report["accuracy"]["gpt-4o-2024-08-06"]["gsm"].get<double>(), 96.21, 0.01);
  EXPECT_EQ(test::run_smacs("grade --data " + file).exit_code, 0);
  EXPECT_NE(test::run_smacs("grade --data " + file + " --rule bogus").exit_code, 0);
  EXPECT_NE(test::run_smacs("grade --data /nonexistent.json").exit_code, 0);
}
