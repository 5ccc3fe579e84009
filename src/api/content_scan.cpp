#include "api/content_scan.h"

namespace smacs {

namespace {

bool blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The character a one-letter escape stands for (\" \\ \/ \b \f \n \r \t); any other letter
// is invalid JSON, which the parser refuses later: kept as itself, never taken for "content".
char unescaped(char c) {
  switch (c) {
    case 'b':
      return '\b';
    case 'f':
      return '\f';
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    default:
      return c;
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 0;  // invalid JSON: the parser refuses it later
}

}  // namespace

bool ContentScan::feed(std::string_view piece) {
  if (over_) return false;
  scanned_ += piece.size();
  for (const char c : piece) {
    switch (state_) {
      case State::kBetween:
        if (c == '"') {
          state_ = State::kString;
          counting_ = value_is_content_;
          text_bytes_ = 0;
          key_.clear();
          key_is_content_ = value_is_content_ = false;
        } else if (c == ':' && key_is_content_) {
          key_is_content_ = false;
          value_is_content_ = true;
        } else if (!blank(c)) {
          key_is_content_ = value_is_content_ = false;
        }
        break;
      case State::kString:
        if (c == '"') {
          state_ = State::kBetween;
          key_is_content_ = !counting_ && key_ == "content";
          counting_ = false;
          break;
        }
        if (c == '\\') {
          state_ = State::kEscape;
        } else if (counting_) {
          ++text_bytes_;
        } else {
          add_to_key(c);
        }
        break;
      case State::kEscape:  // one byte of text at least, whatever it stands for
        state_ = c == 'u' ? State::kUnicode : State::kString;
        hex_left_ = 4;
        code_ = 0;
        if (counting_) ++text_bytes_;
        // A key is read decoded: "cont\u0065nt" is the parser's "content" too.
        if (!counting_ && c != 'u') add_to_key(unescaped(c));
        break;
      case State::kUnicode:
        code_ = code_ * 16 + hex_value(c);
        if (--hex_left_ > 0) break;
        state_ = State::kString;
        // Beyond ASCII (or half a surrogate pair): not a letter of "content".
        if (!counting_) add_to_key(code_ < 0x80 ? static_cast<char>(code_) : '\x80');
        break;
    }
    if (counting_ && text_bytes_ > max_) {
      over_ = true;
      return false;
    }
  }
  return true;
}

}  // namespace smacs
