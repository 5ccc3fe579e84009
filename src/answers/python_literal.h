// Python literals as values: CRUXEval-O's gold answers ('abc', [(4, 1)], {1: None}, True) and
// what models answer to them, compared by value (1.0 == 1, {1, 2} == {2, 1}), not by spelling.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smacs {

struct PyValue {
  enum class Type { kNone, kBool, kInt, kFloat, kStr, kBytes, kList, kTuple, kSet, kDict };
  Type type = Type::kNone;
  std::string text{};            // kStr/kBytes: the value; kInt: decimal digits with any '-'
  double number = 0;             // kFloat; kBool: 0 or 1
  std::vector<PyValue> items{};  // list, tuple, set; a dict's keys and values, alternating
};

// The literal at the start of `text` (after spaces): strings in every quoting and prefix
// (r, b, u; triple quotes; escapes; adjacent strings joined), ints (with _, 0x, 0o, 0b), floats,
// True/False/None, lists, tuples, sets, dicts, nested up to 100 levels (deeper: nullopt, no
// recursion beyond that). `end`, when given, gets where the literal ended; nullopt when none
// starts there.
std::optional<PyValue> parse_python_literal_prefix(std::string_view text, size_t* end = nullptr);
// The same for the whole of `text` (surrounding spaces allowed).
std::optional<PyValue> parse_python_literal(std::string_view text);

// One spelling per value: equal Python values (ints and floats by number, sets and dicts in any
// order) give equal strings. Strings are written '...' with \\ \' \n \r \t \xNN escapes.
std::string canonical(const PyValue& v);

// `s` written as a Python string literal between `quote`s, escaping \\, the quote, \n \r \t
// and other control bytes (\xNN); other bytes as they are.
std::string python_quoted(const std::string& s, char quote = '\'');

// A plain str value.
PyValue py_str(std::string s);

}  // namespace smacs
