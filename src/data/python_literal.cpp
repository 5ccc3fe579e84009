// A reader for the small subset of Python literal syntax RouterBench uses: a list of strings.
#include <cstdint>

#include "core/error.h"
#include "data/load.h"

namespace smacs {

namespace {

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

uint32_t parse_hex(const std::string& s, size_t& i, int digits) {
  if (i + digits > s.size()) throw Error("truncated escape in Python string literal");
  uint32_t v = 0;
  for (int d = 0; d < digits; ++d) {
    const char c = s[i++];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= c - '0';
    else if (c >= 'a' && c <= 'f')
      v |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v |= c - 'A' + 10;
    else
      throw Error("bad hex digit in Python string literal");
  }
  return v;
}

// Reads one quoted string starting at s[i] (the quote); leaves i after the closing quote.
std::string parse_string(const std::string& s, size_t& i) {
  const char quote = s[i++];
  std::string out;
  while (i < s.size() && s[i] != quote) {
    char c = s[i++];
    if (c != '\\') {
      out += c;
      continue;
    }
    if (i >= s.size()) break;
    c = s[i++];
    switch (c) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case '0':
        out += '\0';
        break;
      case 'x':
        append_utf8(out, parse_hex(s, i, 2));
        break;
      case 'u':
        append_utf8(out, parse_hex(s, i, 4));
        break;
      case 'U':
        append_utf8(out, parse_hex(s, i, 8));
        break;
      case '\n':
        break;  // line continuation
      default:
        out += c;  // \\ \' \" and unknown escapes keep the character
    }
  }
  if (i >= s.size()) throw Error("unterminated string in Python list literal");
  ++i;
  return out;
}

void skip_space(const std::string& s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
}

}  // namespace

std::vector<std::string> parse_python_str_list(const std::string& text) {
  size_t i = 0;
  skip_space(text, i);
  if (i >= text.size() || text[i] != '[') throw Error("expected a Python list literal '[...]'");
  ++i;
  std::vector<std::string> items;
  for (;;) {
    skip_space(text, i);
    if (i < text.size() && text[i] == ']') break;
    if (i >= text.size() || (text[i] != '\'' && text[i] != '"'))
      throw Error("expected a quoted string in Python list literal");
    items.push_back(parse_string(text, i));
    skip_space(text, i);
    if (i < text.size() && text[i] == ',')
      ++i;
    else if (i >= text.size() || text[i] != ']')
      throw Error("expected ',' or ']' in Python list");
  }
  ++i;
  skip_space(text, i);
  if (i != text.size()) throw Error("trailing characters after Python list literal");
  return items;
}

}  // namespace smacs
