#include "answers/math.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <regex>
#include <vector>

namespace smacs {

namespace {

// Longer answers are not an answer but a runaway reply: compared as text, never fed to
// std::regex, whose matcher recurses once per character.
constexpr size_t kMaxRegexInput = 300;

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (s.find(from) == std::string::npos) return;
  std::string out;
  for (size_t i = 0; i < s.size();) {
    if (s.compare(i, from.size(), from) == 0) {
      out.append(to);
      i += from.size();
    } else {
      out += s[i++];
    }
  }
  s = std::move(out);
}

// The end of the {...} group that opens at `open` (the index of '{'); npos when unbalanced.
size_t group_end(std::string_view s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return i;
  }
  return std::string_view::npos;
}

// \text{abc} -> abc for the text-like commands (also \textbf, \mathrm, \mbox, ...).
std::string unwrap_text_commands(std::string s) {
  static const char* commands[] = {"\\text",   "\\textbf", "\\textit",       "\\mathrm",
                                   "\\mathbf", "\\mbox",   "\\operatorname", "\\textrm"};
  for (bool changed = true; changed;) {
    changed = false;
    for (const char* c : commands) {
      const std::string open = std::string(c) + "{";
      const size_t at = s.find(open);
      if (at == std::string::npos) continue;
      const size_t brace = at + open.size() - 1;
      const size_t end = group_end(s, brace);
      if (end == std::string::npos) continue;
      s = s.substr(0, at) + s.substr(brace + 1, end - brace - 1) + s.substr(end + 1);
      changed = true;
    }
  }
  return s;
}

// \frac12 -> \frac{1}{2}, \sqrt2 -> \sqrt{2}: single-character arguments get braces.
std::string brace_short_arguments(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const bool frac = s.compare(i, 5, "\\frac") == 0, sqrt = s.compare(i, 5, "\\sqrt") == 0;
    if (!frac && !sqrt) {
      out += s[i++];
      continue;
    }
    out += s.substr(i, 5);
    i += 5;
    for (int arg = 0; arg < (frac ? 2 : 1) && i < s.size(); ++arg) {
      if (s[i] == '{' || s[i] == '[') break;  // already grouped (or \sqrt[n])
      if (s[i] == '\\') break;
      out += '{';
      out += s[i++];
      out += '}';
    }
  }
  return out;
}

bool is_unit_word(const std::string& w) {
  static const char* units[] = {
      "units",        "unit",         "squareunits", "sq",     "cm",         "m",
      "km",           "mm",           "inches",      "inch",   "in",         "feet",
      "foot",         "ft",           "yards",       "miles",  "meters",     "degrees",
      "degree",       "dollars",      "cents",       "hours",  "hour",       "minutes",
      "seconds",      "days",         "mph",         "pounds", "cubicunits", "squarefeet",
      "squareinches", "squaremeters", "centimeters", "cm^2",   "m^2",        "inches^2",
      "feet^2",       "units^2"};
  return std::find(std::begin(units), std::end(units), w) != std::end(units);
}

// Splits at commas outside any bracket.
std::vector<std::string> split_top_level(const std::string& s) {
  std::vector<std::string> parts(1);
  int depth = 0;
  for (char c : s) {
    if (c == '{' || c == '(' || c == '[') ++depth;
    if (c == '}' || c == ')' || c == ']') --depth;
    if (c == ',' && depth == 0)
      parts.emplace_back();
    else
      parts.back() += c;
  }
  return parts;
}

std::string format_number(double v) {
  if (std::abs(v - std::round(v)) < 1e-9 * std::max(1.0, std::abs(v)) && std::abs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", std::round(v) == 0 ? 0.0 : std::round(v));
    return buf;
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// One member of an answer: its value when it has one, else its cleaned text.
std::string canonical_atom(std::string s) {
  if (s.size() > kMaxRegexInput) return s;  // std::regex recurses per character
  while (s.size() > 2 && s.front() == '{' && group_end(s, 0) == s.size() - 1)
    s = s.substr(1, s.size() - 2);
  // A leading "x=" (one variable, one '=') names the answer; the value is what counts.
  static const std::regex assignment(R"(^[A-Za-z](_\{?\w+\}?)?=([^=]+)$)");
  std::smatch m;
  if (std::regex_match(s, m, assignment)) s = m[2];
  // A worked answer "7*7*4=196": the value after the last '=' when it is a number.
  if (const auto eq = s.rfind('='); eq != std::string::npos)
    if (auto v = evaluate_math(s.substr(eq + 1))) return format_number(*v);
  // A base subscript: 1011_2, 1011_{2}, 100_b (the digits are the answer).
  static const std::regex base(R"(^(-?[0-9A-Za-z]+)_\{?[0-9a-z]+\}?$)");
  if (std::regex_match(s, m, base)) s = m[1];
  if (auto v = evaluate_math(s)) return format_number(*v);
  // A trailing unit: 5cm, 12squareunits, 30degrees.
  static const std::regex unit(R"(^(.*?[0-9}])\\?([a-z]+(\^\{?[23]\}?)?)$)");
  if (std::regex_match(s, m, unit) && is_unit_word(m[2].str()))
    if (auto v = evaluate_math(m[1].str())) return format_number(*v);
  return s;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ",") + p;
  return out;
}

}  // namespace

std::optional<std::string> last_boxed(std::string_view text) {
  size_t at = std::string_view::npos;
  size_t len = 0;
  for (const char* cmd : {"\\boxed", "\\fbox"}) {
    const size_t found = text.rfind(cmd);
    if (found != std::string_view::npos && (at == std::string_view::npos || found > at)) {
      at = found;
      len = std::string_view(cmd).size();
    }
  }
  if (at == std::string_view::npos) return std::nullopt;
  size_t open = at + len;
  while (open < text.size() && text[open] == ' ') ++open;
  if (open >= text.size() || text[open] != '{') return std::nullopt;
  const size_t end = group_end(text, open);
  if (end == std::string_view::npos) return std::nullopt;
  return std::string(text.substr(open + 1, end - open - 1));
}

std::string canonical_math(std::string_view answer) {
  std::string s(answer);
  if (auto boxed = last_boxed(s)) s = *boxed;
  for (const char* drop : {"\\left",  "\\right", "\\displaystyle",
                           "\\!",     "\\,",     "\\;",
                           "\\:",     "\\ ",     "\\$",
                           "$",       "~",       "\\%",
                           "%",       "{,}",     "^{\\circ}",
                           "^\\circ", "\\circ",  "\xc2\xb0",
                           "\\(",     "\\)",     "\\[",
                           "\\]"})
    replace_all(s, drop, "");
  replace_all(s, "\\dfrac", "\\frac");
  replace_all(s, "\\tfrac", "\\frac");
  replace_all(s, "\\cdot", "*");
  replace_all(s, "\\times", "*");
  replace_all(s, "\\le ", "\\leq ");
  s = unwrap_text_commands(s);
  s.erase(std::remove_if(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); }),
          s.end());
  while (!s.empty() && (s.back() == '.' || s.back() == '\\')) s.pop_back();
  s = brace_short_arguments(s);
  static const std::regex thousands(R"(^-?\d{1,3}(,\d{3})+(\.\d+)?$)");
  if (s.size() <= kMaxRegexInput && std::regex_match(s, thousands))
    s.erase(std::remove(s.begin(), s.end(), ','), s.end());
  if (s.empty()) return s;

  // Sets \{a,b\}: members in any order.
  if (s.rfind("\\{", 0) == 0 && s.size() >= 4 && s.compare(s.size() - 2, 2, "\\}") == 0) {
    auto parts = split_top_level(s.substr(2, s.size() - 4));
    for (auto& p : parts) p = canonical_atom(p);
    std::sort(parts.begin(), parts.end());
    return "{" + join(parts) + "}";
  }
  auto parts = split_top_level(s);
  const char first = s.front(), last = s.back();
  const bool bracketed = (first == '(' || first == '[') && (last == ')' || last == ']');
  if (bracketed) {  // a tuple or an interval: order and brackets matter
    auto inner = split_top_level(s.substr(1, s.size() - 2));
    if (inner.size() > 1) {
      for (auto& p : inner) p = canonical_atom(p);
      return std::string(1, first) + join(inner) + std::string(1, last);
    }
  }
  if (parts.size() > 1) {  // a bare list of solutions: any order
    for (auto& p : parts) p = canonical_atom(p);
    std::sort(parts.begin(), parts.end());
    return join(parts);
  }
  return canonical_atom(s);
}

// ---- evaluate_math: a small recursive-descent evaluator, depth-limited ----

namespace {

class Evaluator {
 public:
  explicit Evaluator(std::string_view s) : s_(s) {}
  std::optional<double> run() {
    auto v = sum();
    if (!v || pos_ != s_.size() || !std::isfinite(*v)) return std::nullopt;
    return v;
  }

 private:
  static constexpr int kMaxDepth = 40;  // answers are short; deeper input is refused

  bool eat(std::string_view t) {
    if (s_.compare(pos_, t.size(), t) != 0) return false;
    pos_ += t.size();
    return true;
  }
  bool at_end() const { return pos_ >= s_.size(); }

  std::optional<double> sum() {
    if (++depth_ > kMaxDepth) return std::nullopt;
    auto v = product();
    while (v && !at_end() && (s_[pos_] == '+' || s_[pos_] == '-')) {
      const char op = s_[pos_++];
      auto r = product();
      if (!r) return std::nullopt;
      *v = op == '+' ? *v + *r : *v - *r;
    }
    --depth_;
    return v;
  }

  std::optional<double> product() {
    auto v = unary();
    while (v && !at_end()) {
      const char c = s_[pos_];
      if (c == '*' || c == '/') {
        ++pos_;
        auto r = unary();
        if (!r) return std::nullopt;
        *v = c == '*' ? *v * *r : *v / *r;
      } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '(' || c == '{' || c == '\\' ||
                 c == 'p' || c == '.' || c == 's' || c == '\xe2') {
        auto r = power();  // an implicit product: 2\sqrt{3}, 3\pi, (1)(2)
        if (!r) return std::nullopt;
        *v *= *r;
      } else {
        break;
      }
    }
    return v;
  }

  std::optional<double> unary() {
    if (eat("-")) {
      auto v = unary();
      return v ? std::optional<double>(-*v) : std::nullopt;
    }
    if (eat("+")) return unary();
    return power();
  }

  std::optional<double> power() {
    auto base = atom();
    if (!base) return std::nullopt;
    if (eat("^")) {
      auto e = eat("{") ? group_rest('}') : atom();
      if (!e) return std::nullopt;
      return std::pow(*base, *e);
    }
    return base;
  }

  // After an opening bracket: the expression and its closing bracket.
  std::optional<double> group_rest(char close) {
    auto v = sum();
    if (!v || !eat(std::string_view(&close, 1))) return std::nullopt;
    return v;
  }

  std::optional<double> braced() { return eat("{") ? group_rest('}') : std::nullopt; }

  std::optional<double> atom() {
    if (at_end()) return std::nullopt;
    if (++depth_ > kMaxDepth) return std::nullopt;
    std::optional<double> v;
    const char c = s_[pos_];
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      size_t used = 0;
      const std::string rest(s_.substr(pos_, 40));
      try {
        v = std::stod(rest, &used);
      } catch (const std::exception&) {
        return std::nullopt;
      }
      if (rest.find_first_of("eExXpP") < used) return std::nullopt;  // no 1e5, hex, inf
      pos_ += used;
    } else if (eat("(")) {
      v = group_rest(')');
    } else if (eat("{")) {
      v = group_rest('}');
    } else if (eat("\\frac")) {
      auto a = braced(), b = a ? braced() : std::nullopt;
      if (a && b) v = *a / *b;
    } else if (eat("sqrt(") || eat("\xe2\x88\x9a(")) {  // plain sqrt(x), √(x)
      auto a = group_rest(')');
      if (a && *a >= 0) v = std::sqrt(*a);
    } else if (eat("\xe2\x88\x9a")) {  // √2
      auto a = atom();
      if (a && *a >= 0) v = std::sqrt(*a);
    } else if (eat("\\sqrt")) {
      double index = 2;
      if (eat("[")) {
        auto n = group_rest(']');
        if (!n) return std::nullopt;
        index = *n;
      }
      auto a = braced();
      if (a && *a >= 0) v = std::pow(*a, 1.0 / index);
    } else if (eat("\\pi") || eat("pi")) {
      v = M_PI;
    }
    --depth_;
    return v;
  }

  std::string_view s_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

std::optional<double> evaluate_math(std::string_view expression) {
  if (expression.empty() || expression.size() > 200) return std::nullopt;
  return Evaluator(expression).run();
}

}  // namespace smacs
