// Answers that are Python values (CRUXEval-O: "complete the assertion with the output"): what
// a reply answers, as a value, whichever way it is written: a JSON answer field holding 'abc'
// or abc (a JSON string: the Python quotes usually dropped) or a JSON list, `f(x) == 'abc'`,
// `assert f(x) == 'abc'`, fenced, with commentary after it.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace smacs {

// The answer in canonical form (answers/python_literal.h); "" when the reply gives none. A
// JSON string field is read as the literal it spells when it spells one ("[1, 2]", "'abc'",
// "5"), else as the string itself.
std::string extract_literal_answer(std::string_view reply);

// Every value the reply can fairly be read as answering, in canonical form: a JSON string field
// "5" is the literal 5 and also the string '5' (models drop Python's quotes inside JSON), and
// "a\nb" also the string with a newline; its text as written, spaces kept. Grading counts a
// reply right when one of them is the gold (literal_gold).
std::vector<std::string> literal_readings(std::string_view reply);

// A gold literal in the same form (its trimmed text as a string when it does not parse).
std::string literal_gold(std::string_view gold);

}  // namespace smacs
