#include "answers/reply_json.h"

#include <cctype>
#include <nlohmann/json.hpp>

#include "api/openai_api.h"

namespace smacs {

std::string_view first_json_object(std::string_view s) {
  const size_t start = s.find('{');
  if (start == std::string_view::npos) return {};
  int depth = 0;
  for (size_t i = start; i < s.size(); ++i) {
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return s.substr(start, i - start + 1);
  }
  return {};
}

namespace {

// A LaTeX answer written with single backslashes parses as JSON escapes: "\frac" becomes a
// form feed and "rac". Turn such control characters back into the command they began.
std::string repair_latex_escapes(const std::string& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    const bool letter_next = i + 1 < v.size() && std::isalpha(static_cast<unsigned char>(v[i + 1]));
    if (c == '\f')
      out += "\\f";
    else if (c == '\b')
      out += "\\b";
    else if (c == '\t' && letter_next)
      out += "\\t";
    else if (c == '\r' && letter_next)
      out += "\\r";
    else if (c == '\n' && letter_next)
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::optional<nlohmann::json> value_of_object(std::string_view object) {
  std::string text;
  for (char c : object)
    if (c != '\n' && c != '\r') text += c;  // raw newlines inside strings are common
  if (json_nesting(text) > kMaxJsonDepth) return std::nullopt;
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (!doc.is_object()) return std::nullopt;
  const auto it = doc.find("answer");
  if (it == doc.end()) return std::nullopt;
  return std::move(*it);
}

std::optional<std::string> field_of_object(std::string_view object) {
  const auto v = value_of_object(object);
  if (!v) return std::nullopt;
  if (v->is_string()) return repair_latex_escapes(v->get<std::string>());
  if (v->is_null()) return std::string();
  return v->dump();
}

// After `"answer":` (or `answer:`): a quoted value up to its closing quote, else a bare value
// up to the end of the line or object.
std::optional<std::string> lenient_field(std::string_view s) {
  size_t at = s.find("\"answer\"");
  size_t skip = 8;
  if (at == std::string_view::npos) return std::nullopt;
  size_t i = at + skip;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  if (i >= s.size() || s[i] != ':') return std::nullopt;
  ++i;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  std::string out;
  if (i < s.size() && s[i] == '"') {
    for (++i; i < s.size(); ++i) {
      if (s[i] == '\\' && i + 1 < s.size()) {
        const char n = s[i + 1];
        if (n == '"' || n == '\\') {
          out += n;
          ++i;
          continue;
        }
        out += s[i];  // a LaTeX command: keep its backslash
        continue;
      }
      if (s[i] == '"') {
        size_t j = i + 1;  // a quote inside the value is one not followed by , } or the end
        while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j]))) ++j;
        if (j >= s.size() || s[j] == '}' || s[j] == ',' || s[j] == '`') break;
      }
      out += s[i];
    }
    return out;
  }
  for (; i < s.size() && s[i] != '\n' && s[i] != '}' && s[i] != ','; ++i) out += s[i];
  while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
  return out;
}

}  // namespace

std::optional<std::string> json_answer_field(std::string_view reply) {
  if (const auto object = first_json_object(reply); !object.empty())
    if (auto v = field_of_object(object)) return v;
  return lenient_field(reply);
}

std::optional<nlohmann::json> json_answer_value(std::string_view reply) {
  if (const auto object = first_json_object(reply); !object.empty())
    if (auto v = value_of_object(object)) return v;
  if (auto v = lenient_field(reply)) return nlohmann::json(std::move(*v));
  return std::nullopt;
}

}  // namespace smacs
