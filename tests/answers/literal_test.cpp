// Python-literal answers (CRUXEval-O): values parsed and compared by value, the forms models
// write them in, real replies from the CRUX files pinned, and ZeroEval's own crux rule
// reproducing its published accuracy.
#include <gtest/gtest.h>

#include "answers/extract.h"
#include "answers/literal_answer.h"
#include "answers/python_literal.h"
#include "answers/zeroeval_rule.h"
#include "data/load.h"
#include "test_util.h"

using namespace smacs;

namespace {
std::string canon(std::string_view text) {
  const auto v = parse_python_literal(text);
  return v ? canonical(*v) : "<not a literal>";
}
bool matches(std::string_view reply, std::string_view gold) {
  return answer_matches(AnswerKind::kLiteral, reply, literal_gold(gold));
}
}  // namespace

TEST(PythonLiteral, ValuesNotSpellings) {
  EXPECT_EQ(canon("'abc'"), canon("\"abc\""));
  EXPECT_EQ(canon("'a\\'b'"), canon("\"a'b\""));
  EXPECT_EQ(canon("'caf\\xe9'"), canon("'caf\\u00e9'"));
  EXPECT_EQ(canon("'''x\ny'''"), canon("'x\\ny'"));
  EXPECT_EQ(canon("r'a\\n'"), canon("'a\\\\n'"));
  EXPECT_EQ(canon("'a' 'b'"), canon("'ab'"));
  EXPECT_EQ(canon("b'ab'"), "b'ab'");
  EXPECT_NE(canon("b'ab'"), canon("'ab'"));
  EXPECT_EQ(canon("1.0"), canon("1"));
  EXPECT_EQ(canon("1e3"), canon("1000"));
  EXPECT_EQ(canon("-0"), canon("0"));
  EXPECT_EQ(canon("0x1F"), canon("31"));
  EXPECT_EQ(canon("1_000"), canon("1000"));
  EXPECT_EQ(canon("- 5"), canon("-5"));
  EXPECT_EQ(canon("8.50"), canon("8.5"));
  EXPECT_NE(canon("'5'"), canon("5"));
  EXPECT_NE(canon("True"), canon("'True'"));
  EXPECT_EQ(canon("(1)"), canon("1"));
  EXPECT_EQ(canon("(1,)"), "(1,)");
  EXPECT_NE(canon("(1, 2)"), canon("[1, 2]"));
  EXPECT_EQ(canon("{2, 1, 2}"), canon("{1, 2}"));
  EXPECT_EQ(canon("{'b': 1, 'a': [None, (True,)]}"), canon("{'a': [None, (True,)], 'b': 1}"));
  EXPECT_EQ(canon("[1, 2,]"), canon("[1, 2]"));
  EXPECT_EQ(canon("{}"), "{}");
  EXPECT_EQ(canon("set()"), "<not a literal>");  // a call, not a literal
  for (const char* bad : {"abc", "f(x)", "'open", "[1, 2", "{1: }", "1 2", "inf", "[1 2]"})
    EXPECT_EQ(canon(bad), "<not a literal>") << bad;
}

TEST(PythonLiteral, DeepNestingIsRefusedNotRecursedInto) {
  EXPECT_NE(canon(std::string(50, '[') + std::string(50, ']')), "<not a literal>");
  EXPECT_EQ(canon(std::string(200000, '[') + std::string(200000, ']')), "<not a literal>");
}

TEST(LiteralAnswer, TheFormsModelsWrite) {
  EXPECT_TRUE(matches(R"({"answer": "abc"})", "'abc'"));         // JSON string, quotes dropped
  EXPECT_TRUE(matches(R"({"answer": "'abc'"})", "'abc'"));       // or kept
  EXPECT_TRUE(matches(R"({"answer": [1, [2, 3]]})", "[1, [2, 3]]"));  // a JSON list
  EXPECT_TRUE(matches(R"({"answer": true})", "True"));
  EXPECT_TRUE(matches(R"({"answer": null})", "None"));
  EXPECT_TRUE(matches(R"({"answer": "5"})", "5"));    // the literal it spells
  EXPECT_TRUE(matches(R"({"answer": "5"})", "'5'"));  // or the string itself
  EXPECT_FALSE(matches(R"({"answer": 5})", "'5'"));   // a JSON number is no string
  EXPECT_TRUE(matches(R"({"answer": " a "})", "' a '"));  // spaces are part of a string
  EXPECT_TRUE(matches(R"({"answer": "6,8,8"})", "'6,8,8'"));
  EXPECT_FALSE(matches(R"({"answer": "6,8,8"})", "6"));  // not the first number of it
  EXPECT_TRUE(matches(R"({"answer": "f('a') == 'b'"})", "'b'"));
  EXPECT_TRUE(matches("assert f([3, 1]) == [1, 3]", "[1, 3]"));
  EXPECT_TRUE(matches("```python\nassert f(x) == {'a': 1}\n```", "{'a': 1}"));
  EXPECT_TRUE(matches("The output is:\n[1, 2]  # sorted", "[1, 2]"));
  EXPECT_TRUE(matches(R"({"answer": "'ab' because the loop stops"})", "'ab'"));
  EXPECT_TRUE(matches(R"({"answer": "t\\nZA"})", "'t\\nZA'"));  // escapes written as text
  EXPECT_TRUE(matches(R"({"answer": "'148: b'148''"})", "\"148: b'148'\""));  // unescaped quotes
  EXPECT_TRUE(matches(R"({"answer": ""})", "''"));
  EXPECT_FALSE(matches(R"({"reasoning": "no answer field"})", "'x'"));
  EXPECT_EQ(extract_literal_answer(R"({"answer": "[1, 2]"})"), "[1, 2]");
  EXPECT_EQ(answer_similarity(AnswerKind::kLiteral, extract_literal_answer(R"({"answer": "'x'"})"),
                              extract_literal_answer(R"({"answer": "x"})")),
            1.0);  // the posterior's agreement: the same value, however written
}

namespace {
struct Pin {
  const char* model;
  int id;
  bool smacs, zeroeval;  // the two verdicts
};
}  // namespace

// Real replies from the CRUX files, with the verdict each rule gives them.
TEST(LiteralAnswer, RealCruxRepliesPinned) {
  const std::vector<Pin> pins = {
      // Both right; smacs's old grader got these wrong (the JSON string drops the quotes).
      {"Llama-3.1-405B-Inst@sambanova", 29, true, true},   // "123314" for '123314'
      {"Llama-3.1-405B-Inst@sambanova", 64, true, true},   // "     7     ": spaces kept
      {"Llama-3.1-405B-Inst@sambanova", 67, true, true},   // "6,8,8"
      {"Llama-3.1-405B-Inst@sambanova", 79, true, true},   // "1,2,3,4"
      {"Llama-3.1-405B-Inst@sambanova", 151, true, true},  // a sentence starting with 697
      {"Llama-3.1-405B-Inst@sambanova", 189, true, true},  // "{{{{}}}}"
      {"Llama-3.1-405B-Inst@sambanova", 309, true, true},  // a trailing space
      {"Llama-3.1-405B-Inst@sambanova", 312, true, true},  // "True" for 'True'
      {"Llama-3.1-405B-Inst@sambanova", 382, true, true},  // a string that looks like a tuple
      {"Llama-3.1-405B-Inst@sambanova", 494, true, true},  // "001"
      {"Llama-3.1-405B-Inst@sambanova", 537, true, true},  // "[4]" for '[4]'
      {"Llama-3.1-405B-Inst@sambanova", 544, true, true},  // twelve leading spaces
      {"Llama-3.1-405B-Inst@sambanova", 583, true, true},  // \n written as text
      {"Mistral-Large-2", 289, true, true},                // quotes inside left unescaped
      // smacs right, ZeroEval wrong: its rule never counts an empty gold, and compares text.
      {"Llama-3.1-405B-Inst@sambanova", 10, true, false},   // '' for ''
      {"Llama-3.1-405B-Inst@sambanova", 145, true, false},  // 8.5 (a JSON number)
      {"Llama-3.1-405B-Inst@sambanova", 490, true, false},  // control characters as escapes
      {"Llama-3.1-405B-Inst@sambanova", 697, true, false},  // a tuple holding ''
      {"Mistral-Large-2", 207, true, false},                // a dict in another key order
      {"Mistral-Large-2", 649, true, false},                // a leading space and \n
      {"Mistral-Large-2", 286, true, false},                // a list
      {"gpt-4o-2024-08-06", 62, true, false},               // a tuple
      {"gpt-4o-2024-08-06", 25, true, false},               // a dict
      {"claude-3-opus-20240229", 658, true, false},         // a list with None
      {"claude-3-opus-20240229", 625, true, false},         // 4
      {"gemma-2-2b-it", 776, true, false},                  // {}
      // ZeroEval right, smacs wrong: its quote stripping forgives a broken answer.
      {"Mistral-Large-2", 93, false, true},  // 'iq!!!!'' (one quote too many)
      {"gemma-2-2b-it", 341, false, true},   // the JSON object runs into the next line
  };
  std::map<std::string, std::pair<Dataset, Dataset>> files;  // smacs's and ZeroEval's grades
  for (const auto& p : pins) {
    auto& [ours, theirs] = files[p.model];
    if (ours.records.empty()) {
      ours = load_files({test::data_file("zeroeval/crux/" + std::string(p.model) + ".json.gz")});
      theirs = ours;
      regrade_with_zeroeval_rule(theirs);
    }
    const std::string id = "crux/crux-test-#" + std::to_string(p.id);
    size_t i = 0;
    while (i < ours.records.size() && ours.records[i].id != id) ++i;
    ASSERT_LT(i, ours.records.size()) << id;
    const Record& r = ours.records[i];
    EXPECT_EQ(r.grader, "literal");
    EXPECT_EQ(r.scores[0] > 0, p.smacs) << p.model << " " << id << ": gold " << r.gold
                                        << ", read " << extract_literal_answer(r.responses[0]);
    EXPECT_EQ(theirs.records[i].scores[0] > 0, p.zeroeval) << p.model << " " << id;
  }
}

// `smacs grade --rule zeroeval` on crux lands on every number ZeroEval published, and smacs's
// own grader is never below it by more than 0.5 (it reads more answers right than wrong).
TEST(LiteralAnswer, ZeroEvalsCruxRuleReproducedAndSmacsNeverBelowIt) {
  const std::map<std::string, double> published = {
      {"Athene-70B", 49.75},
      {"Llama-3.1-405B-Inst@sambanova", 71.25},
      {"Meta-Llama-3-70B-Instruct", 57.12},
      {"Meta-Llama-3-8B-Instruct", 36.62},
      {"Meta-Llama-3.1-70B-Instruct", 62.62},
      {"Meta-Llama-3.1-8B-Instruct", 38.75},
      {"Mistral-Large-2", 72.88},
      {"Phi-3.5-mini-instruct", 40.88},
      {"Qwen2-72B-Instruct", 57.38},
      {"Qwen2-7B-Instruct", 36.75},
      {"Yi-1.5-34B-Chat", 42.88},
      {"Yi-1.5-9B-Chat", 43.75},
      {"deepseek-v2.5-0908", 68.12},
      {"gemma-2-2b-it", 20.75},
      {"gemma-2-9b-it", 44.88},
      {"claude-3-5-sonnet-20240620", 78.75},
      {"claude-3-haiku-20240307", 53.62},
      {"claude-3-opus-20240229", 68.62},
      {"gemini-1.5-flash", 61.88},
      {"gemini-1.5-pro", 66.25},
      {"gpt-3.5-turbo-0125", 53.25},
      {"gpt-4o-2024-05-13", 83.62},
      {"gpt-4o-2024-08-06", 85.00},
      {"gpt-4o-mini-2024-07-18", 73.50},
      {"o1-mini-2024-09-12", 91.38},
      {"reka-core-20240501", 45.00},
  };
  const Dataset ours = load_files({test::data_file("zeroeval/crux")});
  Dataset theirs = ours;
  regrade_with_zeroeval_rule(theirs);
  ASSERT_EQ(ours.models.size(), published.size());
  auto accuracy = [](const Dataset& d, size_t m) {
    double right = 0;
    for (const auto& r : d.records) right += r.scores[m];
    return 100.0 * right / static_cast<double>(d.records.size());
  };
  for (size_t m = 0; m < ours.models.size(); ++m) {
    const double zeroeval = accuracy(theirs, m), smacs = accuracy(ours, m);
    EXPECT_NEAR(zeroeval, published.at(ours.models[m]), 1.0) << ours.models[m];
    EXPECT_GE(smacs, zeroeval - 0.5) << ours.models[m];
  }
}
