#include "answers/zeroeval_rule.h"

#include <cctype>
#include <charconv>
#include <cstdlib>

#include "answers/extract.h"
#include "answers/reply_json.h"

namespace smacs {

namespace {

bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

// A whole-string decimal ("-3", "0.75"); nullopt otherwise.
std::optional<double> whole_decimal(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  const size_t digits = i;
  while (i < s.size() && is_digit(s[i])) ++i;
  if (i == digits) return std::nullopt;
  if (i < s.size() && s[i] == '.') {
    ++i;
    const size_t fraction = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    if (i == fraction) return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  return std::strtod(std::string(s).c_str(), nullptr);
}

// ZeroEval evaluates an answer holding '/' as Python and keeps the text when that fails; the
// form that matters in these files is a plain "a/b" (spaces allowed).
std::string divide_out(const std::string& s) {
  const auto slash = s.find('/');
  if (slash == std::string::npos || s.find('/', slash + 1) != std::string::npos) return s;
  const auto a = whole_decimal(trim(s.substr(0, slash)));
  const auto b = whole_decimal(trim(s.substr(slash + 1)));
  if (!a || !b || *b == 0) return s;
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, *a / *b);
  return std::string(buf, r.ptr);
}

}  // namespace

std::optional<double> zeroeval_first_number(std::string_view answer) {
  std::string s;
  for (char c : answer)
    if (c != '$') s += c;
  s = trim(s);
  std::erase(s, ',');
  s = divide_out(s);
  for (size_t i = 0; i < s.size(); ++i) {
    if (!is_digit(s[i])) continue;
    const size_t start = i > 0 && s[i - 1] == '-' ? i - 1 : i;
    while (i < s.size() && is_digit(s[i])) ++i;
    if (i + 1 < s.size() && s[i] == '.' && is_digit(s[i + 1])) {
      ++i;
      while (i < s.size() && is_digit(s[i])) ++i;
    }
    return std::strtod(s.substr(start, i - start).c_str(), nullptr);
  }
  return std::nullopt;
}

std::optional<std::string> zeroeval_boxed_word(std::string_view model, std::string_view reply) {
  if (model.find("Llama-3.1") == std::string_view::npos) return std::nullopt;
  for (size_t at = reply.find("\\boxed{"); at != std::string_view::npos;
       at = reply.find("\\boxed{", at + 1)) {
    size_t i = at + 7;
    const size_t start = i;
    while (i < reply.size() &&
           (std::isalnum(static_cast<unsigned char>(reply[i])) || reply[i] == '_'))
      ++i;
    if (i > start && i < reply.size() && reply[i] == '}')
      return std::string(reply.substr(start, i - start));
  }
  return std::nullopt;
}

bool zeroeval_rule_correct(std::string_view model, std::string_view reply, std::string_view gold) {
  std::optional<std::string> answer = json_answer_field(reply);
  if (!answer) answer = zeroeval_boxed_word(model, reply);
  if (!answer) return false;
  std::string g(gold);
  std::erase(g, '#');
  const auto mine = zeroeval_first_number(*answer), right = zeroeval_first_number(g);
  return mine && right && *mine == *right;
}

}  // namespace smacs
