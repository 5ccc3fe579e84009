#include "answers/python_literal.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace smacs {

namespace {

constexpr int kMaxDepth = 100;

// Joined by append: GCC 12 warns falsely (-Wrestrict) on chains of string operator+.
std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (const auto p : parts) out.append(p);
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_word(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Parser {
 public:
  explicit Parser(std::string_view t) : t_(t) {}

  std::optional<PyValue> value(int depth) {
    if (depth > kMaxDepth) return std::nullopt;
    skip_space();
    if (i_ >= t_.size()) return std::nullopt;
    const char c = t_[i_];
    if (c == '[') return sequence(PyValue::Type::kList, ']', depth);
    if (c == '(') return sequence(PyValue::Type::kTuple, ')', depth);
    if (c == '{') return braces(depth);
    if (c == '-' || c == '+' || is_digit(c) ||
        (c == '.' && i_ + 1 < t_.size() && is_digit(t_[i_ + 1])))
      return number();
    if (auto s = strings()) return s;
    return word();
  }

  void skip_space() {
    while (i_ < t_.size() && is_space(t_[i_])) ++i_;
  }
  size_t at() const { return i_; }

 private:
  bool eat(char c) {
    skip_space();
    if (i_ < t_.size() && t_[i_] == c) return ++i_, true;
    return false;
  }

  // [a, b], (a,), (a, b): items separated by commas, a trailing comma allowed; a parenthesised
  // single value without a comma is that value.
  std::optional<PyValue> sequence(PyValue::Type type, char close, int depth) {
    ++i_;
    PyValue out{.type = type};
    bool comma = false;
    while (!eat(close)) {
      if (!out.items.empty() && !comma) return std::nullopt;
      auto item = value(depth + 1);
      if (!item) return std::nullopt;
      out.items.push_back(std::move(*item));
      comma = eat(',');
    }
    if (type == PyValue::Type::kTuple && out.items.size() == 1 && !comma)
      return std::move(out.items[0]);
    return out;
  }

  // {} (a dict), {k: v, ...} or {a, b} (a set).
  std::optional<PyValue> braces(int depth) {
    ++i_;
    PyValue out{.type = PyValue::Type::kDict};
    bool comma = false, first = true;
    while (!eat('}')) {
      if (!first && !comma) return std::nullopt;
      auto key = value(depth + 1);
      if (!key) return std::nullopt;
      if (first)
        out.type = eat(':') ? PyValue::Type::kDict : PyValue::Type::kSet;
      else if (out.type == PyValue::Type::kDict && !eat(':'))
        return std::nullopt;
      out.items.push_back(std::move(*key));
      if (out.type == PyValue::Type::kDict) {
        auto v = value(depth + 1);
        if (!v) return std::nullopt;
        out.items.push_back(std::move(*v));
      }
      first = false;
      comma = eat(',');
    }
    return out;
  }

  std::optional<PyValue> number() {
    const size_t start = i_;
    bool negative = false;
    while (i_ < t_.size() && (t_[i_] == '-' || t_[i_] == '+')) {
      negative ^= t_[i_] == '-';
      ++i_;
      skip_space();
    }
    if (i_ + 1 < t_.size() && t_[i_] == '0' && t_[i_ + 1] != '\0' &&
        std::strchr("xXoObB", t_[i_ + 1]))
      return based(negative);
    std::string digits;
    bool is_float = false;
    auto run = [&] {
      const size_t from = digits.size();
      while (i_ < t_.size() && (is_digit(t_[i_]) || (t_[i_] == '_' && digits.size() > from)))
        if (t_[i_++] != '_') digits += t_[i_ - 1];
      return digits.size() > from;
    };
    const bool whole = run();
    if (i_ < t_.size() && t_[i_] == '.') {
      is_float = true;
      digits += t_[i_++];
      if (!run() && !whole) return reset(start);
    } else if (!whole) {
      return reset(start);  // a sign before a name ("-inf") is no literal
    }
    if (i_ < t_.size() && (t_[i_] == 'e' || t_[i_] == 'E')) {
      const size_t e = i_;
      std::string exponent = "e";
      ++i_;
      if (i_ < t_.size() && (t_[i_] == '-' || t_[i_] == '+')) exponent += t_[i_++];
      const size_t before = digits.size();
      if (run()) {
        exponent += digits.substr(before);
        digits.resize(before);
        digits += exponent;
        is_float = true;
      } else {
        i_ = e;
      }
    }
    if (i_ < t_.size() && (t_[i_] == 'j' || t_[i_] == 'J' || is_word(t_[i_]))) return reset(start);
    PyValue out;
    if (is_float) {
      out.type = PyValue::Type::kFloat;
      out.number = std::strtod(digits.c_str(), nullptr) * (negative ? -1 : 1);
      return out;
    }
    out.type = PyValue::Type::kInt;
    const size_t nonzero = std::min(digits.find_first_not_of('0'), digits.size() - 1);
    const bool zero = digits.find_first_not_of('0') == std::string::npos;
    out.text = cat({negative && !zero ? "-" : "", std::string_view(digits).substr(nonzero)});
    return out;
  }

  // 0x1F, 0o17, 0b101 (up to 64 bits).
  std::optional<PyValue> based(bool negative) {
    const char kind = static_cast<char>(std::tolower(static_cast<unsigned char>(t_[i_ + 1])));
    const int base = kind == 'x' ? 16 : kind == 'o' ? 8 : 2;
    i_ += 2;
    std::string digits;
    while (i_ < t_.size() && (std::isxdigit(static_cast<unsigned char>(t_[i_])) || t_[i_] == '_'))
      if (t_[i_++] != '_') digits += t_[i_ - 1];
    uint64_t v = 0;
    const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), v, base);
    if (digits.empty() || r.ec != std::errc() || r.ptr != digits.data() + digits.size())
      return std::nullopt;
    PyValue out{.type = PyValue::Type::kInt};
    out.text = cat({negative && v != 0 ? "-" : "", std::to_string(v)});
    return out;
  }

  std::optional<PyValue> reset(size_t start) {
    i_ = start;
    return std::nullopt;
  }

  // True, False, None; any other name is not a literal.
  std::optional<PyValue> word() {
    size_t j = i_;
    while (j < t_.size() && is_word(t_[j])) ++j;
    const std::string_view w = t_.substr(i_, j - i_);
    PyValue out;
    if (w == "None") {
      out.type = PyValue::Type::kNone;
    } else if (w == "True" || w == "False") {
      out.type = PyValue::Type::kBool;
      out.number = w == "True";
    } else {
      return std::nullopt;
    }
    i_ = j;
    return out;
  }

  // One string literal or several adjacent ones (joined, as Python does).
  std::optional<PyValue> strings() {
    std::optional<PyValue> out;
    size_t after = i_;  // just past the last string read
    for (;;) {
      i_ = after;
      if (out) skip_space();
      auto one = string_literal();
      if (!one) break;
      if (out && out->type != one->type) return std::nullopt;  // str and bytes do not mix
      if (!out)
        out = std::move(one);
      else
        out->text += one->text;
      after = i_;
    }
    i_ = after;
    return out;
  }

  std::optional<PyValue> string_literal() {
    bool raw = false, bytes = false;
    while (i_ < t_.size() && t_[i_] != '\0' && std::strchr("rRbBuU", t_[i_])) {
      const char p = static_cast<char>(std::tolower(static_cast<unsigned char>(t_[i_])));
      raw |= p == 'r';
      bytes |= p == 'b';
      ++i_;
    }
    if (i_ >= t_.size() || (t_[i_] != '\'' && t_[i_] != '"')) return std::nullopt;
    const char q = t_[i_];
    const bool triple = t_.substr(i_, 3) == std::string(3, q);
    i_ += triple ? 3 : 1;
    PyValue out{.type = bytes ? PyValue::Type::kBytes : PyValue::Type::kStr};
    for (;;) {
      if (i_ >= t_.size()) return std::nullopt;
      const char c = t_[i_];
      if (triple ? t_.substr(i_, 3) == std::string(3, q) : c == q) {
        i_ += triple ? 3 : 1;
        return out;
      }
      if (!triple && c == '\n') return std::nullopt;
      ++i_;
      if (c != '\\') {
        out.text += c;
      } else if (raw) {
        out.text += c;
        if (i_ < t_.size()) out.text += t_[i_++];
      } else if (!escape(out.text)) {
        return std::nullopt;
      }
    }
  }

  // After a backslash: the escape's character(s) into `out`.
  bool escape(std::string& out) {
    if (i_ >= t_.size()) return false;
    const char c = t_[i_++];
    switch (c) {
      case 'n':
        out += '\n';
        return true;
      case 't':
        out += '\t';
        return true;
      case 'r':
        out += '\r';
        return true;
      case 'a':
        out += '\a';
        return true;
      case 'b':
        out += '\b';
        return true;
      case 'f':
        out += '\f';
        return true;
      case 'v':
        out += '\v';
        return true;
      case '\n':
        return true;  // a line continuation
      case 'x':
        return hex(out, 2);
      case 'u':
        return hex(out, 4);
      case 'U':
        return hex(out, 8);
      default:
        break;
    }
    if (c >= '0' && c <= '7') {
      uint32_t v = static_cast<uint32_t>(c - '0');
      for (int k = 0; k < 2 && i_ < t_.size() && t_[i_] >= '0' && t_[i_] <= '7'; ++k)
        v = v * 8 + static_cast<uint32_t>(t_[i_++] - '0');
      append_utf8(out, v);
      return true;
    }
    if (c != '\\' && c != '\'' && c != '"') out += '\\';  // unknown escapes keep the backslash
    out += c;
    return true;
  }

  bool hex(std::string& out, int digits) {
    if (i_ + static_cast<size_t>(digits) > t_.size()) return false;
    uint32_t v = 0;
    const auto r = std::from_chars(t_.data() + i_, t_.data() + i_ + digits, v, 16);
    if (r.ptr != t_.data() + i_ + digits) return false;
    i_ += static_cast<size_t>(digits);
    append_utf8(out, v);
    return true;
  }

  std::string_view t_;
  size_t i_ = 0;
};

// Floats equal to an int are written as that int (Python's 1.0 == 1).
std::string number_text(double x) {
  if (std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 9007199254740992.0)
    return std::to_string(static_cast<int64_t>(x));
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

std::string joined(std::vector<std::string> parts, bool sort) {
  if (sort) std::sort(parts.begin(), parts.end());
  std::string out;
  for (size_t k = 0; k < parts.size(); ++k) {
    if (k) out += ", ";
    out += parts[k];
  }
  return out;
}

}  // namespace

std::optional<PyValue> parse_python_literal_prefix(std::string_view text, size_t* end) {
  Parser p(text);
  auto v = p.value(0);
  if (v && end) *end = p.at();
  return v;
}

std::optional<PyValue> parse_python_literal(std::string_view text) {
  Parser p(text);
  auto v = p.value(0);
  p.skip_space();
  if (!v || p.at() != text.size()) return std::nullopt;
  return v;
}

std::string python_quoted(const std::string& s, char quote) {
  std::string out(1, quote);
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\\' || c == quote) {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7F) {
      static const char* hexd = "0123456789abcdef";
      out += "\\x";
      out += hexd[u >> 4];
      out += hexd[u & 15];
    } else {
      out += c;
    }
  }
  out += quote;
  return out;
}

PyValue py_str(std::string s) { return PyValue{.type = PyValue::Type::kStr, .text = std::move(s)}; }

std::string canonical(const PyValue& v) {
  using T = PyValue::Type;
  std::vector<std::string> parts;
  switch (v.type) {
    case T::kNone:
      return "None";
    case T::kBool:
      return v.number != 0 ? "True" : "False";
    case T::kInt:
      return v.text;
    case T::kFloat:
      return number_text(v.number);
    case T::kStr:
      return python_quoted(v.text);
    case T::kBytes:
      return cat({"b", python_quoted(v.text)});
    case T::kList:
    case T::kTuple:
    case T::kSet:
      for (const auto& item : v.items) parts.push_back(canonical(item));
      if (v.type == T::kList) return cat({"[", joined(parts, false), "]"});
      if (v.type == T::kTuple)
        return cat({"(", joined(parts, false), parts.size() == 1 ? ",)" : ")"});
      std::sort(parts.begin(), parts.end());
      parts.erase(std::unique(parts.begin(), parts.end()), parts.end());
      return parts.empty() ? "set()" : cat({"{", joined(parts, false), "}"});
    case T::kDict:
      for (size_t k = 0; k + 1 < v.items.size(); k += 2)
        parts.push_back(cat({canonical(v.items[k]), ": ", canonical(v.items[k + 1])}));
      return cat({"{", joined(parts, true), "}"});
  }
  return "None";
}

}  // namespace smacs
