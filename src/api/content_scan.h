// Counts a chat completion's message text while its JSON is still arriving, so that a reply
// whose text is longer than the caller can use is refused before it is read whole. An
// aggregator's candidate over max_candidate_bytes is the case: the reply's size alone cannot
// tell (the logprobs the confidence term asks for make its JSON many times its text), and
// reading, parsing and copying 10 MB replies only to refuse them took fresh memory several
// times their size on every request.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace smacs {

class ContentScan {
 public:
  explicit ContentScan(size_t max_bytes) : max_(max_bytes) {}

  // Reads the next piece of the JSON; false (from then on) once the text of a string-valued
  // "content" member is known to hold more than max_bytes. Counts at least: an escape as one
  // byte, so a reply is never refused for a text that fits. A "content" that is no string (the
  // logprobs' array, null) is not counted. One pass, constant state: no recursion.
  bool feed(std::string_view piece);
  size_t scanned() const { return scanned_; }  // bytes fed so far

 private:
  // Keeps no more of a key than tells whether it is "content" (one byte over its length).
  void add_to_key(char c) {
    if (key_.size() <= 7) key_.push_back(c);
  }

  enum class State : uint8_t { kBetween, kString, kEscape, kUnicode };
  size_t max_;
  size_t scanned_ = 0;
  State state_ = State::kBetween;
  int hex_left_ = 0;   // kUnicode: hex digits still to read
  unsigned code_ = 0;  // kUnicode: the code unit read so far
  std::string key_;    // the start of the string being read, decoded (enough to tell "content")
  bool key_is_content_ = false;    // the last string closed was "content", only blanks since
  bool value_is_content_ = false;  // and a ':' followed it: the next string is the text
  bool counting_ = false;          // inside that text
  size_t text_bytes_ = 0;
  bool over_ = false;
};

}  // namespace smacs
