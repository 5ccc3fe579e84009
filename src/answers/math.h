// Math answers (MATH-style LaTeX or plain text) in a canonical form: two answers are
// equivalent when their canonical forms are equal.
//
// The form drops what does not change the value (\boxed, $, \left/\right, \text{}, spaces,
// degree signs, thousands separators, units, a leading "x ="), evaluates what is a plain
// number (\frac, \sqrt, \pi, a/b, decimals: 0.75 = \frac{3}{4} = \frac34), orders the
// members of sets and of bare lists of solutions, and keeps the order of tuples and the
// brackets of intervals.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace smacs {

std::string canonical_math(std::string_view answer);

// The value of a constant expression (numbers, + - * / ^, \frac, \sqrt, \pi, braces and
// parentheses, implicit products); nullopt when it has anything else.
std::optional<double> evaluate_math(std::string_view expression);

// The content of the last \boxed{...} (or \fbox{...}); nullopt when there is none.
std::optional<std::string> last_boxed(std::string_view text);

}  // namespace smacs
