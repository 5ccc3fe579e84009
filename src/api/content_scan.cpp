#include "api/content_scan.h"

namespace smacs {

namespace {

bool blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

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
        } else if (key_.size() <= 7) {
          key_.push_back(c);
        }
        break;
      case State::kEscape:  // one byte of text at least, whatever it stands for
        state_ = c == 'u' ? State::kUnicode : State::kString;
        hex_left_ = 4;
        if (counting_) ++text_bytes_;
        // An escaped key is not taken for "content" (its reply is then read whole, and its text
        // refused after it, as without a scan).
        if (!counting_ && key_.size() <= 7) key_.push_back('\\');
        break;
      case State::kUnicode:
        if (--hex_left_ == 0) state_ = State::kString;
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
