// ZeroEval's CRUXEval-O rule (crux_eval.py as it graded the published numbers), reproduced to
// check that smacs reads these files as ZeroEval does: the answer is found as ZeroEval finds it
// (the first complete JSON object, else its regular expressions, else Llama-3.1's \boxed{}),
// printed as Python's str() prints it, and compared as text with the gold, quotes stripped
// from both ends of each.
#include <cctype>
#include <nlohmann/json.hpp>

#include "answers/python_literal.h"
#include "answers/reply_json.h"
#include "answers/zeroeval_rule.h"
#include "api/openai_api.h"

namespace smacs {

namespace {

using nlohmann::ordered_json;

bool space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// Python's repr of a str: single quotes unless the text holds ' and no ".
std::string python_repr(const std::string& s) {
  return python_quoted(
      s, s.find('\'') != std::string::npos && s.find('"') == std::string::npos ? '"' : '\'');
}

// Python's str() of what json.loads made of `v`.
std::string python_str(const ordered_json& v, bool top = true) {
  if (v.is_string()) return top ? v.get<std::string>() : python_repr(v.get<std::string>());
  if (v.is_null()) return "None";
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  if (v.is_number()) return v.dump();
  std::string out = v.is_array() ? "[" : "{";
  bool first = true;
  for (const auto& [key, item] : v.items()) {
    if (!first) out += ", ";
    first = false;
    if (v.is_object()) out += python_repr(key) + ": ";
    out += python_str(item, false);
  }
  return out + (v.is_array() ? "]" : "}");
}

// extract_first_complete_json: the first balanced {...}, parsed with every '\n' removed.
std::optional<ordered_json> first_complete_json(std::string_view reply) {
  const std::string_view object = first_json_object(reply);
  if (object.empty()) return std::nullopt;
  std::string text;
  for (const char c : object)
    if (c != '\n') text += c;
  if (json_nesting(text) > kMaxJsonDepth) return std::nullopt;
  auto doc = ordered_json::parse(text, nullptr, false);
  if (!doc.is_object()) return std::nullopt;
  return doc;
}

// extract_values_from_json(s, allow_no_quotes=True) for "answer": `"answer"\s*:\s*"(...)"`
// up to the next quote; else `"answer"\s*:\s*([^,\s]*)`; else the same without the key's quotes.
std::optional<std::string> regex_answer(std::string_view s) {
  auto after_colon = [&](size_t key_end) -> std::optional<size_t> {
    size_t i = key_end;
    while (i < s.size() && space(s[i])) ++i;
    if (i >= s.size() || s[i] != ':') return std::nullopt;
    ++i;
    while (i < s.size() && space(s[i])) ++i;
    return i;
  };
  for (size_t at = s.find("\"answer\""); at != s.npos; at = s.find("\"answer\"", at + 1)) {
    const auto i = after_colon(at + 8);
    if (!i || *i >= s.size() || s[*i] != '"') continue;
    const size_t close = s.find('"', *i + 1);
    if (close != s.npos) return std::string(s.substr(*i + 1, close - *i - 1));
  }
  auto bare_from = [&](std::string_view key) -> std::optional<std::string> {
    for (size_t at = s.find(key); at != s.npos; at = s.find(key, at + 1)) {
      const auto i = after_colon(at + key.size());
      if (!i) continue;
      size_t j = *i;
      while (j < s.size() && s[j] != ',' && !space(s[j])) ++j;
      return std::string(s.substr(*i, j - *i));
    }
    return std::nullopt;
  };
  if (auto v = bare_from("\"answer\"")) return v;
  return bare_from("answer");
}

// Python's s.strip("'\""): quotes of either kind off both ends, as many as there are.
std::string_view strip_quotes(std::string_view s) {
  while (!s.empty() && (s.front() == '\'' || s.front() == '"')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == '\'' || s.back() == '"')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool zeroeval_crux_correct(std::string_view model, std::string_view reply, std::string_view gold) {
  std::optional<ordered_json> answer;
  if (auto doc = first_complete_json(reply); doc && doc->contains("answer"))
    answer = (*doc)["answer"];
  if (!answer)
    if (auto v = regex_answer(reply)) answer = ordered_json(*v);
  if (!answer)
    if (auto v = zeroeval_boxed_word(model, reply)) answer = ordered_json(*v);
  if (!answer) return false;
  const std::string mine = python_str(*answer);
  const std::string_view ours = strip_quotes(mine), right = strip_quotes(gold);
  return !ours.empty() && !right.empty() && ours == right;
}

}  // namespace smacs
