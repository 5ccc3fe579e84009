#include "answers/extract.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <regex>
#include <sstream>

#include "answers/literal_answer.h"
#include "answers/math.h"
#include "answers/reply_json.h"
#include "core/error.h"
#include "core/sorted_common.h"

namespace smacs {

AnswerKind parse_answer_kind(const std::string& name) {
  if (name == "choice") return AnswerKind::kChoice;
  if (name == "number") return AnswerKind::kNumber;
  if (name == "math") return AnswerKind::kMath;
  if (name == "text" || name == "exact") return AnswerKind::kText;
  if (name == "code") return AnswerKind::kCode;
  if (name == "literal") return AnswerKind::kLiteral;
  throw Error("unknown answer kind '" + name +
              "' (expected choice, number, math, text (or exact), code or literal)");
}

std::string to_string(AnswerKind kind) {
  switch (kind) {
    case AnswerKind::kChoice:
      return "choice";
    case AnswerKind::kNumber:
      return "number";
    case AnswerKind::kMath:
      return "math";
    case AnswerKind::kText:
      return "text";
    case AnswerKind::kCode:
      return "code";
    case AnswerKind::kLiteral:
      return "literal";
  }
  return "text";
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

namespace {

// What std::regex may see of a reply: its matcher recurses once per character, so a long reply
// (a runaway or hostile backend) would overflow the stack. Answers sit near the start or the end.
constexpr size_t kRegexWindow = 1500;
std::string regex_window(std::string_view text) {
  if (text.size() <= 2 * kRegexWindow) return std::string(text);
  return std::string(text.substr(0, kRegexWindow)) + "\n" +
         std::string(text.substr(text.size() - kRegexWindow));
}

std::string extract_choice(std::string_view response) {
  const std::string s = trim(regex_window(response));
  static const std::regex alone(R"(^\(?([A-J])\)?[.):]?$)");
  static const std::regex stated(R"((?:answer|option|choice)\s*(?:is|:)?\s*:?\s*\(?([A-J])\b)",
                                 std::regex::icase);
  static const std::regex leading(R"(^\(?([A-J])[.):])");  // "I am" is not option I
  static const std::regex any(R"((?:^|[^A-Za-z])\(?([A-J])\)(?:[^A-Za-z]|$))");
  std::smatch m;
  if (std::regex_match(s, m, alone)) return m[1];
  if (std::regex_search(s, m, stated))
    return std::string(1, static_cast<char>(std::toupper(m[1].str()[0])));
  if (std::regex_search(s, m, leading)) return m[1];
  if (std::regex_search(s, m, any)) return m[1];
  return "";
}

std::string normalise_number(std::string n) {
  n.erase(std::remove(n.begin(), n.end(), ','), n.end());
  if (n.find('.') != std::string::npos) {
    while (!n.empty() && n.back() == '0') n.pop_back();
    if (!n.empty() && n.back() == '.') n.pop_back();
  }
  if (n.empty() || n == "-") return "0";
  return n;
}

// The number a short stated answer gives: "$1,250", "18 dollars", "x = 4", "25%". After an
// equals sign its right side; then the first number (a unit or a remark may follow it).
std::string number_in_stated_answer(std::string s) {
  if (s.size() > 1000) s.resize(1000);  // a stated answer is short; std::regex recurses
  s.erase(std::remove_if(s.begin(), s.end(), [](char c) { return c == '$' || c == ','; }), s.end());
  if (const auto eq = s.rfind('='); eq != std::string::npos) s = s.substr(eq + 1);
  static const std::regex number(R"(-?\d+(?:\.\d+)?)");
  std::smatch m;
  if (!std::regex_search(s, m, number)) return "";
  return normalise_number(m.str());
}

std::string extract_number(std::string_view response) {
  if (auto field = json_answer_field(response)) return number_in_stated_answer(*field);
  std::string s = regex_window(response);
  if (auto hash = s.rfind("####"); hash != std::string::npos) s = s.substr(hash + 4);
  static const std::regex number(R"(-?\d[\d,]*(?:\.\d+)?)");
  std::string last;
  for (auto it = std::sregex_iterator(s.begin(), s.end(), number); it != std::sregex_iterator();
       ++it)
    last = it->str();
  return last.empty() ? "" : normalise_number(last);
}

std::string normalise_text(std::string_view response) {
  std::string out;
  out.reserve(response.size());
  bool space = false;
  for (unsigned char c : response) {  // ASCII tests inline: this runs on every long reply
    const bool upper = c >= 'A' && c <= 'Z';
    if (upper || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80) {
      if (space && !out.empty()) out += ' ';
      out += static_cast<char>(upper ? c + ('a' - 'A') : c);
      space = false;
    } else {
      space = true;
    }
  }
  return out;
}

std::string normalise_code(std::string_view response) {  // whitespace-insensitive tokens
  std::istringstream in{std::string(response)};
  std::string token, out;
  while (in >> token) out += (out.empty() ? "" : " ") + token;
  return out;
}

// The distinct whitespace-separated tokens of `s`, hashed and sorted: free-text answers are
// long and compared pairwise in every posterior, where sorting strings cost most of the time.
std::vector<size_t> tokens(std::string_view s) {
  auto space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };  // as isspace in C
  std::vector<size_t> out;
  for (size_t at = 0; at < s.size();) {
    while (at < s.size() && space(s[at])) ++at;
    size_t end = at;
    while (end < s.size() && !space(s[end])) ++end;
    if (end > at) out.push_back(std::hash<std::string_view>{}(s.substr(at, end - at)));
    at = end;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

std::string extract_answer(AnswerKind kind, std::string_view response) {
  switch (kind) {
    case AnswerKind::kChoice:
      return extract_choice(response);
    case AnswerKind::kNumber:
      return extract_number(response);
    case AnswerKind::kMath: {
      if (auto field = json_answer_field(response)) return canonical_math(*field);
      if (auto boxed = last_boxed(response)) return canonical_math(*boxed);
      return canonical_math(response);
    }
    case AnswerKind::kText:
      return normalise_text(response);
    case AnswerKind::kCode:
      return normalise_code(response);
    case AnswerKind::kLiteral:
      return extract_literal_answer(response);
  }
  return "";
}

std::string extract_gold(AnswerKind kind, std::string_view gold) {
  switch (kind) {
    case AnswerKind::kNumber: {
      std::string g(gold);
      if (const auto hash = g.rfind("####"); hash != std::string::npos) g = g.substr(hash + 4);
      g.erase(std::remove(g.begin(), g.end(), '#'), g.end());
      return number_in_stated_answer(g);
    }
    case AnswerKind::kMath:
      return canonical_math(gold);
    case AnswerKind::kLiteral:
      return literal_gold(gold);
    default:
      return extract_answer(kind, gold);
  }
}

bool answer_matches(AnswerKind kind, std::string_view response, const std::string& gold) {
  if (gold.empty()) return false;
  if (kind != AnswerKind::kLiteral) return extract_answer(kind, response) == gold;
  const auto readings = literal_readings(response);
  return std::find(readings.begin(), readings.end(), gold) != readings.end();
}

double answer_similarity(AnswerKind kind, const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return 0.0;
  if (kind == AnswerKind::kChoice || kind == AnswerKind::kNumber || kind == AnswerKind::kMath ||
      kind == AnswerKind::kLiteral)
    return a == b ? 1.0 : 0.0;
  if (a == b) return 1.0;
  const auto ta = tokens(a), tb = tokens(b);
  const size_t common = count_common(ta, tb);
  const size_t uni = ta.size() + tb.size() - common;
  return uni == 0 ? 0.0 : static_cast<double>(common) / static_cast<double>(uni);
}

namespace {

bool is_regex_space(char c) {  // what std::regex's \s matches in the C locale
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// An option line, as the regex (^|\n)\s*\(?[A-D][.):]\s matches it from `at` (the text's
// start or a newline, itself a space): the end of the match, or npos. \s* is greedy and what
// must follow it is never a space, so its first try is its only one.
size_t option_line_at(std::string_view q, size_t i) {
  constexpr size_t kNo = std::string_view::npos;
  while (i < q.size() && is_regex_space(q[i])) ++i;
  if (i < q.size() && q[i] == '(') ++i;
  if (i >= q.size() || q[i] < 'A' || q[i] > 'D') return kNo;
  if (++i >= q.size() || (q[i] != '.' && q[i] != ')' && q[i] != ':')) return kNo;
  if (++i >= q.size() || !is_regex_space(q[i])) return kNo;
  return i + 1;
}

}  // namespace

// The regex's matches, leftmost first and not overlapping: a match can start at the text's
// start or at a newline after the previous match's end.
size_t count_option_lines(std::string_view q, size_t enough) {
  size_t found = 0;
  for (size_t at = 0; at < q.size() && found < enough; ++at) {
    if (at != 0 && q[at] != '\n') continue;
    if (const size_t end = option_line_at(q, at); end != std::string_view::npos)
      ++found, at = end - 1;
  }
  return found;
}

bool is_plain_number(std::string_view g) {  // ^\s*-?[\d,]+(\.\d+)?\s*$
  size_t i = 0;
  auto digits = [&](bool commas) {
    const size_t from = i;
    while (i < g.size() &&
           (std::isdigit(static_cast<unsigned char>(g[i])) || (commas && g[i] == ',')))
      ++i;
    return i > from;
  };
  while (i < g.size() && is_regex_space(g[i])) ++i;
  if (i < g.size() && g[i] == '-') ++i;
  if (!digits(true)) return false;
  if (i + 1 < g.size() && g[i] == '.' && std::isdigit(static_cast<unsigned char>(g[i + 1])))
    ++i, digits(false);
  while (i < g.size() && is_regex_space(g[i])) ++i;
  return i == g.size();
}

namespace {

// A task's votes on its kind, one question and one gold answer at a time, and the grader all
// its records name ("" when they name none or differ).
struct KindVotes {
  size_t questions = 0, choice = 0, code = 0, golds = 0, numeric = 0;
  std::string grader;
  void question(std::string_view q);
  void gold(std::string_view g);
  void named(const std::string& g);  // after question(): the first record's, kept while all agree
  AnswerKind kind() const;
};

void KindVotes::question(std::string_view q) {
  ++questions;
  if (count_option_lines(q, 2) >= 2) ++choice;
  if (q.find("def ") != std::string_view::npos || q.find("```") != std::string_view::npos) ++code;
}

void KindVotes::gold(std::string_view g) {
  if (g.empty()) return;
  ++golds;
  if (is_plain_number(g)) ++numeric;
}

void KindVotes::named(const std::string& g) {
  if (questions == 1)
    grader = g;
  else if (grader != g)
    grader.clear();
}

AnswerKind KindVotes::kind() const {
  if (!grader.empty()) return parse_answer_kind(grader);
  const size_t n = std::max<size_t>(questions, 1);
  if (choice * 2 > n) return AnswerKind::kChoice;
  if (golds > 0 && numeric * 5 >= golds * 4) return AnswerKind::kNumber;
  if (code * 2 > n) return AnswerKind::kCode;
  return AnswerKind::kText;
}

}  // namespace

// One pass, nothing copied: at a million questions this ran at every bank load and reload
// (regexes over copies of every question took seconds).
std::map<std::string, AnswerKind> detect_task_kinds(const std::vector<Record>& records) {
  std::map<std::string, KindVotes> votes;
  KindVotes* last = nullptr;
  const std::string* last_task = nullptr;
  for (const auto& r : records) {
    if (!last_task || *last_task != r.task) last = &votes[r.task], last_task = &r.task;
    last->question(r.question);
    last->gold(r.gold);
    last->named(r.grader);
  }
  std::map<std::string, AnswerKind> kinds;
  for (const auto& [task, v] : votes) kinds[task] = v.kind();
  return kinds;
}

AnswerKind detect_answer_kind(const std::vector<std::string>& questions,
                              const std::vector<std::string>& golds) {
  KindVotes v;
  for (const auto& q : questions) v.question(q);
  for (const auto& g : golds) v.gold(g);
  return v.kind();
}

}  // namespace smacs
