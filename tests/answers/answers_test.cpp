// Reading answers right: ZeroEval's JSON replies, GSM8K numbers and MATH expressions. The
// cases come from the recorded responses in data/zeroeval (each a way a real model answered).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "answers/extract.h"
#include "answers/math.h"
#include "answers/reply_json.h"
#include "core/error.h"
#include "data/load.h"
#include "test_util.h"

using namespace smacs;

namespace {

std::string math(std::string_view s) { return canonical_math(s); }

}  // namespace

TEST(MathAnswers, EquivalentFormsAreEqual) {
  const std::vector<std::pair<std::string, std::string>> same = {
      {"\\frac{3}{4}", "0.75"},
      {"\\dfrac34", "3/4"},
      {"\\tfrac{3}{4}", "\\frac{6}{8}"},
      {"\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt3}{2}"},
      {"2\\sqrt{3}", "\\sqrt{12}"},
      {"2\\sqrt{2}", "2*sqrt(2)"},
      {"6\\sqrt{2}", "6√2"},
      {"30^\\circ", "30"},
      {"30^{\\circ}", "30°"},
      {"\\text{(C)}", "(C)"},
      {"\\textbf{(C)}", "(C)"},
      {"x = 5", "5"},
      {"k=-3", "-3"},
      {"\\$18.90", "18.9"},
      {"$18.90$", "18.90"},
      {"10{,}080", "10080"},
      {"10,080", "10080"},
      {"\\{1, 2, 3\\}", "\\{3,2,1\\}"},
      {"1, -2", "-2, 1"},
      {"\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"},
      {"2\\pi", "\\frac{4\\pi}{2}"},
      {"5\\text{ cm}", "5"},
      {"12\\text{ square units}", "12"},
      {"1011_2", "1011"},
      {"100100_{b}", "100100"},
      {"7*7*7*7*4=9604", "9604"},
      {"16+16+8+4+2+1=47", "47"},
      {"-\\frac{1}{2}", "-0.5"},
      {"\\frac{-1}{2}", "-\\frac12"},
      {"2x + 3", "2x+3"},
      {"\\infty", "\\infty"},
      {"50\\%", "50"},
      {"3.0", "3"},
      {"\\sqrt[3]{8}", "2"},
  };
  for (const auto& [a, b] : same) EXPECT_EQ(math(a), math(b)) << a << " vs " << b;
}

TEST(MathAnswers, DifferentAnswersDiffer) {
  const std::vector<std::pair<std::string, std::string>> differ = {
      {"\\frac{3}{5}", "\\frac{3}{4}"},  // ZeroEval's first-number rule calls these equal
      {"(1,2)", "(2,1)"},                // tuples keep their order
      {"[2,5)", "(2,5)"},                // intervals keep their brackets
      {"2x+3", "3x+2"},
      {"1111212_3", "1112112_3"},
      {"\\sqrt{13}", "4"},
      {"-221_3", "122"},
  };
  for (const auto& [a, b] : differ) EXPECT_NE(math(a), math(b)) << a << " vs " << b;
}

TEST(MathAnswers, EvaluatorIsBoundedAndExact) {
  EXPECT_NEAR(evaluate_math("\\frac{1}{2}+\\frac{1}{3}").value_or(0), 5.0 / 6.0, 1e-12);
  EXPECT_FALSE(evaluate_math("x+1"));
  EXPECT_FALSE(evaluate_math("1e5"));                   // not how MATH writes numbers
  EXPECT_FALSE(evaluate_math(std::string(5000, '(')));  // long input refused, no deep recursion
  EXPECT_FALSE(evaluate_math(std::string(150, '{') + "1" + std::string(150, '}')));
  EXPECT_EQ(last_boxed("so \\boxed{1} or rather \\boxed{\\frac{1}{2}}."), "\\frac{1}{2}");
  EXPECT_FALSE(last_boxed("\\boxed{unclosed"));
}

TEST(ReplyJson, AnswerFieldFromRealReplyShapes) {
  // Fenced, as most models answer.
  EXPECT_EQ(json_answer_field("```json\n{\n  \"reasoning\": \"16 - 3 - 4 = 9\",\n  \"answer\": "
                              "\"18\"\n}\n```"),
            "18");
  // A number, not a string.
  EXPECT_EQ(json_answer_field("{\"reasoning\": \"r\", \"answer\": 18}"), "18");
  // LaTeX written with single backslashes: valid JSON escapes (\f, \t) that are not meant.
  EXPECT_EQ(math(*json_answer_field(R"({"reasoning": "x", "answer": "\frac{3}{4}"})")), "0.75");
  EXPECT_EQ(math(*json_answer_field(R"({"reasoning": "x", "answer": "\text{(B)}"})")), "(B)");
  // Invalid escapes (\s, \p): the JSON does not parse; the lenient reader keeps the LaTeX.
  EXPECT_EQ(json_answer_field(R"({"reasoning": "x", "answer": "2\sqrt{2}"})"), "2\\sqrt{2}");
  // A raw newline inside a string, and a reply cut off before its closing brace.
  EXPECT_EQ(json_answer_field("{\"reasoning\": \"a\nb\", \"answer\": \"7\"}"), "7");
  EXPECT_EQ(json_answer_field("{\"reasoning\": \"so\", \"answer\": \"42\""), "42");
  // A quote inside the value.
  EXPECT_EQ(json_answer_field(R"({"answer": "the "best" one"})"), "the \"best\" one");
  EXPECT_FALSE(json_answer_field("The answer is 42."));
}

TEST(ReplyJson, NumbersFromStatedAnswers) {
  auto number = [](const std::string& answer) {
    return extract_answer(AnswerKind::kNumber,
                          "{\"reasoning\": \"r\", \"answer\": \"" + answer + "\"}");
  };
  EXPECT_EQ(number("$105 - $90 = $15"), "15");  // ZeroEval reads 105: wrong
  EXPECT_EQ(number("18 dollars"), "18");
  EXPECT_EQ(number("$1,250.00"), "1250");
  EXPECT_EQ(number("10 pounds * 2 tablespoons/pound = 20 tablespoons"), "20");
  EXPECT_EQ(number("-3"), "-3");
  EXPECT_EQ(extract_gold(AnswerKind::kNumber, "# 18"), "18");
  EXPECT_EQ(extract_gold(AnswerKind::kNumber, "so it is 5.\n#### 1,250"), "1250");
  // Without an answer field: the last number, as before.
  EXPECT_EQ(extract_answer(AnswerKind::kNumber, "First 3, then 4, so 7."), "7");
}

namespace {

std::string zeroeval_row(const std::string& id, const std::string& question,
                         const std::string& gold, const std::string& reply,
                         const std::string& dataset = "math-l5") {
  nlohmann::json row = {{"id", id},       {"dataset", dataset}, {"problem", question},
                        {"answer", gold}, {"output", {reply}},  {"generator", "x"},
                        {"configs", "{}"}};
  return row.dump();
}

std::string reply(const std::string& answer) {
  return nlohmann::json({{"reasoning", "r"}, {"answer", answer}}).dump();
}

}  // namespace

TEST(ZeroEval, FilesJoinByIdAndAreGraded) {
  const std::string dir = test::temp_path("zeroeval-ok");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/model-a.json")
      << "[" << zeroeval_row("0", "What is 3/4?", "\\frac{3}{4}", reply("0.75")) << ","
      << zeroeval_row("1", "Two?", "2", reply("3")) << "]";
  std::ofstream(dir + "/model-b.json")
      << "[" << zeroeval_row("1", "Two?", "2", reply("\\boxed{2}")) << ","
      << zeroeval_row("0", "What is 3/4?", "\\frac{3}{4}", "no json here") << "]";
  ASSERT_EQ(std::system(("gzip -kf " + dir + "/model-b.json && mv " + dir + "/model-b.json " + dir +
                         "/model-b.txt")
                            .c_str()),
            0);  // the directory now holds model-a.json and model-b.json.gz
  const Dataset d = load_files({dir});
  ASSERT_EQ(d.models, (std::vector<std::string>{"model-a", "model-b"}));
  ASSERT_EQ(d.records.size(), 2u);
  EXPECT_EQ(d.records[0].id, "math-l5/0");
  EXPECT_EQ(d.records[0].task, "math-l5");
  EXPECT_EQ(d.records[0].grader, "math");
  EXPECT_EQ(d.records[0].scores, (std::vector<float>{1, 0}));
  EXPECT_EQ(d.records[1].scores, (std::vector<float>{0, 1}));
  EXPECT_EQ(d.records[1].responses[1], reply("\\boxed{2}"));
}

TEST(ZeroEval, ConflictingQuestionsAndBadFilesAreClearErrors) {
  const std::string dir = test::temp_path("zeroeval-bad");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/a.json") << "[" << zeroeval_row("7", "Question one?", "1", reply("1"))
                                 << "]";
  std::ofstream(dir + "/b.json") << "[" << zeroeval_row("7", "Another question?", "1", reply("1"))
                                 << "]";
  const std::string e = test::error_of([&] { load_files({dir}); });
  EXPECT_NE(e.find("b.json: row 1: id '7'"), std::string::npos) << e;
  EXPECT_NE(e.find("a.json"), std::string::npos) << e;
  std::ofstream(dir + "/b.json") << "[{\"id\": 1, \"dataset\": \"gsm\", \"output\": [\"x\"], "
                                    "\"answer\": \"1\"}]";
  EXPECT_NE(test::error_of([&] { load_files({dir}); }).find("no 'question' or 'problem'"),
            std::string::npos);
  std::ofstream(dir + "/c.json.gz") << "not gzip at all";
  EXPECT_NE(test::error_of([&] { load_files({dir + "/c.json.gz"}); }).find("c.json.gz"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { load_files({dir + "/nothing-here"}); }).find("no such file"),
            std::string::npos);
}

TEST(ZeroEval, ShippedDataGradesLikeThePublishedNumbers) {
  // GPT-4o (2024-08-06) on GSM8K: ZeroEval published 96.21; every model is compared in the
  // README. The shipped files are ZeroEval's own, gzip-compressed.
  const Dataset d = load_files({test::data_file("zeroeval/gsm/gpt-4o-2024-08-06.json.gz")});
  ASSERT_EQ(d.records.size(), 1319u);
  double sum = 0;
  for (const auto& r : d.records) sum += r.scores[0];
  EXPECT_NEAR(100.0 * sum / 1319.0, 96.21, 1.0);
}

// A backend's reply can be anything: a 300 KB run of digits once overflowed std::regex's
// recursive matcher (a crash of the gateway, which extracts every candidate's answer).
TEST(Extract, HugeRepliesDoNotOverflowTheStack) {
  auto around = [](const char* head, char fill, const char* tail) {
    return std::string(head).append(300000, fill).append(tail);
  };
  const std::vector<std::string> replies = {around("", '1', ""),
                                            around("", 'A', ""),
                                            around("(", 'B', ""),
                                            around("", ',', ""),
                                            around("{\"answer\": \"", '9', "\"}"),
                                            around("1", ',', ""),
                                            around("\\boxed{", '7', "}")};
  for (const auto kind : {AnswerKind::kChoice, AnswerKind::kNumber, AnswerKind::kMath,
                          AnswerKind::kText, AnswerKind::kCode})
    for (const auto& r : replies) EXPECT_LE(extract_answer(kind, r).size(), r.size() + 1);
  EXPECT_EQ(extract_answer(AnswerKind::kChoice, around("", ' ', "The answer is (C).")), "C");
}
