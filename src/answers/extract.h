// Answer extraction for EPE's agreement term: what a response answers, and how alike two are.
#pragma once
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/record.h"

namespace smacs {

enum class AnswerKind { kChoice, kNumber, kMath, kText, kCode, kLiteral };

AnswerKind parse_answer_kind(const std::string& name);  // choice|number|math|text|code|literal
std::string to_string(AnswerKind kind);
// Text and code: no short answer to extract, the whole reply is compared and judged.
inline bool is_free_text(AnswerKind kind) {
  return kind == AnswerKind::kText || kind == AnswerKind::kCode;
}

// Multiple choice: the option letter ("B"); number: the final number, normalised ("1250");
// math: the canonical form (answers/math.h); literal: the Python value in canonical form
// (answers/literal_answer.h); text and code: the normalised text. A reply that
// answers in JSON ({"reasoning", "answer"}) is read from its answer field. Empty when nothing
// can be extracted.
std::string extract_answer(AnswerKind kind, std::string_view response);

// `s` without surrounding spaces, tabs and newlines.
std::string trim(std::string_view s);

// A gold answer in the same form as extract_answer's (GSM8K's "#### 18" is 18).
std::string extract_gold(AnswerKind kind, std::string_view gold);

// Whether `response` answers `gold` (extract_gold's form): its extracted answer is the gold;
// for literals, any fair reading of it is (answers/literal_answer.h).
bool answer_matches(AnswerKind kind, std::string_view response, const std::string& gold);

// 1/0 for choice, number, math and literal (same extracted answer or not); token-set Jaccard
// for text/code.
double answer_similarity(AnswerKind kind, const std::string& a, const std::string& b);

// Guesses the kind of a task from its questions (and gold answers, when present).
AnswerKind detect_answer_kind(const std::vector<std::string>& questions,
                              const std::vector<std::string>& golds);

// What detect_answer_kind reads, without std::regex (it ran over every question of a bank at
// each load): how many matches of (^|\n)\s*\(?[A-D][.):]\s the question has, counting up to
// `enough`; whether a gold answer matches ^\s*-?[\d,]+(\.\d+)?\s*$.
size_t count_option_lines(std::string_view question, size_t enough);
bool is_plain_number(std::string_view gold);

// detect_answer_kind for every task of `records`, by task name; a task whose records all name
// the same `grader` takes that kind.
std::map<std::string, AnswerKind> detect_task_kinds(const std::vector<Record>& records);

}  // namespace smacs
