#include <gtest/gtest.h>

#include <random>
#include <regex>

#include "embedding/sparse_vec.h"
#include "embedding/tfidf.h"
#include "posterior/hybrid.h"

using namespace smacs;

TEST(Extract, Choice) {
  EXPECT_EQ(extract_answer(AnswerKind::kChoice, "D\n"), "D");
  EXPECT_EQ(extract_answer(AnswerKind::kChoice, " (B) "), "B");
  EXPECT_EQ(extract_answer(AnswerKind::kChoice, "The answer is (C) because..."), "C");
  EXPECT_EQ(extract_answer(AnswerKind::kChoice, "Answer: a"), "A");
  EXPECT_EQ(extract_answer(AnswerKind::kChoice, "B) wet palms"), "B");
  EXPECT_EQ(extract_answer(AnswerKind::kChoice, "I am not sure"), "");
}

TEST(Extract, Number) {
  EXPECT_EQ(extract_answer(AnswerKind::kNumber, "so she pays 1,250 dollars"), "1250");
  EXPECT_EQ(extract_answer(AnswerKind::kNumber, "steps 3 and 4 ... #### 18"), "18");
  EXPECT_EQ(extract_answer(AnswerKind::kNumber, "the total is 12.50"), "12.5");
  EXPECT_EQ(extract_answer(AnswerKind::kNumber, "-3.0"), "-3");
  EXPECT_EQ(extract_answer(AnswerKind::kNumber, "none"), "");
}

TEST(Extract, TextSimilarity) {
  const auto a = extract_answer(AnswerKind::kText, "The Eiffel Tower!");
  EXPECT_EQ(a, "the eiffel tower");
  EXPECT_DOUBLE_EQ(answer_similarity(AnswerKind::kText, a, "the eiffel tower"), 1.0);
  EXPECT_NEAR(answer_similarity(AnswerKind::kText, "a b c", "a b d"), 0.5, 1e-9);
  EXPECT_EQ(answer_similarity(AnswerKind::kChoice, "A", "B"), 0.0);
  EXPECT_EQ(answer_similarity(AnswerKind::kChoice, "", ""),
            0.0);  // nothing extracted: no agreement
  EXPECT_EQ(extract_answer(AnswerKind::kCode, "def f():\n    return  1"), "def f(): return 1");
}

TEST(Extract, DetectKind) {
  EXPECT_EQ(detect_answer_kind({"Q?\nA. x\nB. y\nC. z", "R?\nA) u\nB) v"}, {}),
            AnswerKind::kChoice);
  EXPECT_EQ(detect_answer_kind({"How many apples?", "How much?"}, {"12", "3,400"}),
            AnswerKind::kNumber);
  EXPECT_EQ(detect_answer_kind({"def add(a, b):\n  \"\"\"sum\"\"\""}, {}), AnswerKind::kCode);
  EXPECT_EQ(detect_answer_kind({"Who wrote Hamlet?"}, {}), AnswerKind::kText);
}

// A task whose records all name one grader takes its kind; named differently, or not by all,
// the task's kind is read from its questions and golds.
TEST(Extract, DetectTaskKindsTakesAGraderOnlyWhenAllRecordsNameIt) {
  auto rec = [](std::string task, std::string question, std::string grader) {
    Record r;
    r.task = std::move(task), r.question = std::move(question), r.grader = std::move(grader);
    return r;
  };
  const std::string choice = "Q?\nA. x\nB. y";
  const auto kinds = detect_task_kinds({
      rec("all", "What is 2+2?", "math"),
      rec("all", "And 3+3?", "math"),
      rec("mixed", choice, "math"),
      rec("mixed", choice, "code"),
      rec("mixed", choice, "math"),
      rec("late", choice, ""),
      rec("late", choice, "math"),
      rec("none", "Who wrote Hamlet?", ""),
  });
  EXPECT_EQ(kinds.at("all"), AnswerKind::kMath);
  EXPECT_EQ(kinds.at("mixed"), AnswerKind::kChoice);
  EXPECT_EQ(kinds.at("late"), AnswerKind::kChoice);
  EXPECT_EQ(kinds.at("none"), AnswerKind::kText);
}

// The kind detector's scanners replaced two std::regexes (a bank load ran them over every
// question: seconds at a million); on random strings over the characters that matter they say
// what the regexes said.
TEST(Extract, KindScannersSayWhatTheirRegexesSaid) {
  const std::regex option_line(R"((^|\n)\s*\(?[A-D][.):]\s)");
  const std::regex number(R"(^\s*-?[\d,]+(\.\d+)?\s*$)");
  const std::string alphabet = "\n \t\r(ABDE.):x-,1905";
  std::mt19937 rng(3);
  std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1), length(0, 14);
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    for (size_t n = length(rng); n > 0; --n) s += alphabet[pick(rng)];
    const auto matches = static_cast<size_t>(
        std::distance(std::sregex_iterator(s.begin(), s.end(), option_line), {}));
    ASSERT_EQ(count_option_lines(s, 100), matches) << testing::PrintToString(s);
    ASSERT_EQ(count_option_lines(s, 2), std::min<size_t>(matches, 2));
    ASSERT_EQ(is_plain_number(s), std::regex_match(s, number)) << testing::PrintToString(s);
  }
  EXPECT_EQ(count_option_lines("Q?\nA. x\nB) y\n (C) z", 100), 3u);
  EXPECT_EQ(count_option_lines("A.\nB. y", 100), 1u);  // the first match took the newline
  EXPECT_TRUE(is_plain_number(" -1,250.5 "));
  EXPECT_FALSE(is_plain_number("12."));
}

TEST(Hybrid, AgreementCanOutvoteAWeakerPrior) {
  // Candidate 0 has the best prior but disagrees with two others that agree with each other.
  const std::vector<Candidate> c = {{0, 0.40, "A"}, {1, 0.35, "B"}, {2, 0.25, "B"}};
  const Posterior p = score_candidates(c, AnswerKind::kChoice, {0.5, true});
  EXPECT_TRUE(p.used_agreement);
  EXPECT_NEAR(p.prior_norm[0], 0.40, 1e-9);
  EXPECT_NEAR(p.agreement[1], 0.25 / (0.40 + 0.25), 1e-9);
  EXPECT_NEAR(p.hybrid[1], 0.5 * 0.35 + 0.5 * (0.25 / 0.65), 1e-9);
  EXPECT_EQ(p.best, 1u);
  // With alpha = 1 the prior alone decides.
  EXPECT_EQ(score_candidates(c, AnswerKind::kChoice, {1.0, true}).best, 0u);
  // Ablation: agreement off.
  EXPECT_EQ(score_candidates(c, AnswerKind::kChoice, {0.5, false}).best, 0u);
}

TEST(Hybrid, NoTextsFallsBackToPrior) {
  const std::vector<Candidate> c = {{0, 0.2, ""}, {1, 0.7, ""}};
  const Posterior p = score_candidates(c, AnswerKind::kChoice, {0.1, true});
  EXPECT_FALSE(p.used_agreement);
  EXPECT_EQ(p.best, 1u);
}

// Free text and code agree by the cosine of their embedded responses; extracted answers keep
// deciding for the kinds that have them, unless agreement compares whole responses (the
// paper's consensus, an ablation).
TEST(Hybrid, FreeTextAgreesByResponseEmbeddings) {
  TfidfEmbedder e;
  const std::vector<std::string> texts = {
      "Paris is the capital of France, on the Seine.", "The capital of France is Paris.",
      "It must be Marseille, in the south.", "the answer is 4", "the answer is 5"};
  e.fit(texts);
  const std::vector<Candidate> c = {{0, 0.4, texts[2]}, {1, 0.3, texts[0]}, {2, 0.3, texts[1]}};
  const Posterior with = score_candidates(c, AnswerKind::kText, {.alpha = 0.3}, &e);
  const auto v = e.embed_all({texts[2], texts[0], texts[1]});
  const double pn1 = 0.3 / 1.0, pn2 = 0.3 / 1.0, pn0 = 0.4;
  EXPECT_NEAR(with.agreement[0], (pn1 * dot(v[0], v[1]) + pn2 * dot(v[0], v[2])) / (pn1 + pn2),
              1e-6);
  EXPECT_NEAR(with.agreement[1], (pn0 * dot(v[1], v[0]) + pn2 * dot(v[1], v[2])) / (pn0 + pn2),
              1e-6);
  EXPECT_NE(with.best, 0u);  // the two that agree outvote the higher prior
  // A number question: extracted answers decide by default, whole responses under kResponses.
  const std::vector<Candidate> n = {{0, 0.5, texts[3]}, {1, 0.5, texts[4]}};
  const Posterior answers = score_candidates(n, AnswerKind::kNumber, {.alpha = 0.5}, &e);
  EXPECT_EQ(answers.agreement[0], 0.0);  // 4 and 5 differ
  const Posterior responses = score_candidates(
      n, AnswerKind::kNumber, {.alpha = 0.5, .rule = AgreementRule::kResponses}, &e);
  EXPECT_GT(responses.agreement[0], 0.3);  // "the answer is" in common
  EXPECT_EQ(parse_agreement_rule("responses"), AgreementRule::kResponses);
}
