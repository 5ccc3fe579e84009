// ZeroEval's own grading rules (its gsm_eval.py, MATH graded the same way; crux_eval.py), kept only
// to check that smacs reads ZeroEval's result files as ZeroEval does (`smacs grade --rule
// zeroeval`). It is not smacs's grader: it compares the first number of a reply's answer field
// with the first number of the gold, so it reads "$105 - $90 = $15" as 105 and "\frac{3}{5}"
// as 3.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace smacs {

// What the rule compares: the first number of `answer` after '$' and ',' are removed and a
// plain "a/b" is divided out; nullopt when there is none.
std::optional<double> zeroeval_first_number(std::string_view answer);

// The model-specific fallback ZeroEval has for Llama-3.1 replies without an answer field: the
// word in the first \boxed{...}; nullopt for other models or without one.
std::optional<std::string> zeroeval_boxed_word(std::string_view model, std::string_view reply);

// Whether ZeroEval's rule counts `reply` (from `model`) right against `gold` ("# 18" or "18").
bool zeroeval_rule_correct(std::string_view model, std::string_view reply, std::string_view gold);

// ZeroEval's rule for CRUXEval-O (its crux_eval.py): the answer field as Python's str() of the
// JSON value and the gold, each with quotes stripped from both ends, are equal and not empty.
bool zeroeval_crux_correct(std::string_view model, std::string_view reply, std::string_view gold);

}  // namespace smacs
