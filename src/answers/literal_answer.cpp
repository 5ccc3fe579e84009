#include "answers/literal_answer.h"

#include <cctype>
#include <nlohmann/json.hpp>

#include "answers/extract.h"
#include "answers/python_literal.h"
#include "answers/reply_json.h"

namespace smacs {

namespace {

using nlohmann::json;

// A JSON value as the Python value json.loads makes of it. Depth: bounded by the parse.
PyValue from_json(const json& j) {
  using T = PyValue::Type;
  PyValue v;
  if (j.is_null()) return v;
  if (j.is_boolean()) return PyValue{.type = T::kBool, .number = j.get<bool>() ? 1.0 : 0.0};
  if (j.is_number_integer()) return PyValue{.type = T::kInt, .text = j.dump()};
  if (j.is_number()) return PyValue{.type = T::kFloat, .number = j.get<double>()};
  if (j.is_string()) return py_str(j.get<std::string>());
  v.type = j.is_array() ? T::kList : T::kDict;
  for (const auto& [key, item] : j.items()) {
    if (v.type == T::kDict) v.items.push_back(py_str(key));
    v.items.push_back(from_json(item));
  }
  return v;
}

// The inside of the last ``` fence (its language tag dropped), or `s`; single backticks too.
std::string_view unfenced(std::string_view s) {
  const size_t close = s.rfind("```");
  if (close != std::string_view::npos && close > 0) {
    const size_t open = s.rfind("```", close - 1);
    if (open != std::string_view::npos && open + 3 <= close) {
      std::string_view inner = s.substr(open + 3, close - open - 3);
      const size_t line = inner.find('\n');
      if (line != std::string_view::npos &&
          inner.substr(0, line).find_first_of(" '\"[({") == std::string_view::npos)
        inner.remove_prefix(line + 1);  // ```python
      s = inner;
    }
  }
  while (s.size() >= 2 && s.front() == '`' && s.back() == '`') s = s.substr(1, s.size() - 2);
  return s;
}

// Where `==` stands outside strings and brackets; npos when nowhere.
size_t top_level_equals(std::string_view s) {
  int depth = 0;
  char quote = 0;
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    const char c = s[i];
    if (quote) {
      if (c == '\\')
        ++i;
      else if (c == quote)
        quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '(' || c == '[' || c == '{') {
      ++depth;
    } else if (c == ')' || c == ']' || c == '}') {
      --depth;
    } else if (depth == 0 && c == '=' && s[i + 1] == '=') {
      return i;
    }
  }
  return std::string_view::npos;
}

// The line that states the answer when a reply is prose with an assertion in it.
std::string_view stating_line(std::string_view s) {
  for (size_t end = s.size(); end > 0;) {
    const size_t start = s.rfind('\n', end - 1);
    const size_t from = start == std::string_view::npos ? 0 : start + 1;
    const std::string_view line = s.substr(from, end - from);
    if (line.find("assert ") != std::string_view::npos || top_level_equals(line) != line.npos)
      return line;
    if (start == std::string_view::npos) break;
    end = start;
  }
  return s;
}

// A literal at the start of `s`, when what follows it is nothing, a comment or prose
// ("'abc' because ...", "[1, 2]. The loop ..."); not another value ("6,8,8", "1 2").
std::optional<PyValue> leading_literal(std::string_view s) {
  size_t end = 0;
  auto v = parse_python_literal_prefix(s, &end);
  if (!v) return std::nullopt;
  std::string_view rest = s.substr(end);
  const std::string trimmed = trim(rest);
  if (trimmed.empty() || trimmed[0] == '#') return v;
  if (rest[0] == '.') rest.remove_prefix(1);
  const bool spaced = !rest.empty() && (rest[0] == ' ' || rest[0] == '\n' || rest[0] == '\t');
  const std::string next = trim(rest);
  if (spaced && !next.empty() && std::isalpha(static_cast<unsigned char>(next[0]))) return v;
  return std::nullopt;
}

// An answer written as text: the value it states, else the text itself as a string.
PyValue from_text(std::string_view text) {
  const std::string whole = trim(unfenced(text));
  std::string_view s = whole;
  if (s.find('\n') != std::string_view::npos) s = stating_line(s);
  std::string stated = trim(s);
  if (const size_t at = stated.find("assert "); at != std::string::npos && at < 4)
    stated = trim(stated.substr(at + 7));
  if (const size_t eq = top_level_equals(stated); eq != std::string::npos)
    stated = trim(stated.substr(eq + 2));
  if (auto v = leading_literal(stated)) return *v;
  if (auto v = leading_literal(whole)) return *v;
  // Prose with the value on a line of its own, the last such line.
  for (size_t end = whole.size(); end > 0;) {
    const size_t start = whole.rfind('\n', end - 1);
    if (start == std::string::npos) break;
    if (auto v = leading_literal(std::string_view(whole).substr(start + 1, end - start - 1)))
      return *v;
    end = start;
  }
  return py_str(whole);
}

// The readings of a reply, the first (what agreement compares) alone unless `all`: the
// posterior reads every candidate, and needs no more than that.
std::vector<std::string> readings(std::string_view reply, bool all) {
  const auto field = json_answer_value(reply);
  if (field && !field->is_string()) return {canonical(from_json(*field))};
  const std::string text = field ? field->get<std::string>() : trim(reply);
  if (!field && text.empty()) return {};
  std::vector<std::string> out{canonical(from_text(text))};
  if (!field || !all) return out;
  out.push_back(canonical(py_str(text)));
  // Quoted without escaping the quotes inside ('148: b'148''): the string between the ends.
  const std::string bare = trim(text);
  if (bare.size() >= 2 && (bare[0] == '\'' || bare[0] == '"') && bare.back() == bare[0])
    out.push_back(canonical(py_str(bare.substr(1, bare.size() - 2))));
  // Escapes written as text ("t\\nZA" in the JSON): the string they spell in Python.
  if (text.find('\\') != std::string::npos)
    if (const auto spelled = parse_python_literal("'''" + text + "'''"))
      out.push_back(canonical(*spelled));
  return out;
}

}  // namespace

std::string extract_literal_answer(std::string_view reply) {
  const auto first = readings(reply, /*all=*/false);
  return first.empty() ? "" : first.front();
}

std::vector<std::string> literal_readings(std::string_view reply) {
  return readings(reply, /*all=*/true);
}

std::string literal_gold(std::string_view gold) {
  if (const auto v = parse_python_literal(gold)) return canonical(*v);
  return canonical(py_str(trim(gold)));
}

}  // namespace smacs
