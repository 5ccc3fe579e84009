// UTF-8 checks for bytes that come from outside (backend replies): JSON must be UTF-8, and a
// message that quotes such bytes must not carry an invalid one into a JSON error or a log.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace smacs {

// The offset of the first byte that is not part of a well-formed UTF-8 sequence (overlong
// forms, surrogates and code points past U+10FFFF included); nullopt when all are.
std::optional<size_t> invalid_utf8_at(std::string_view bytes);

// `bytes` with every ill-formed byte replaced by U+FFFD: a string JSON can carry (a random-
// weight model emits arbitrary byte tokens).
std::string valid_utf8(std::string_view bytes);

// valid_utf8(bytes) cut to at most `max_bytes` on a character boundary: safe to put into JSON
// errors and logs.
std::string printable(std::string_view bytes, size_t max_bytes = 200);

// Where text is cut into pieces that are each whole characters:
// the bytes of a character not complete at the end of `text` (0 when the last one is whole, or
// is no UTF-8 start at all)...
size_t incomplete_utf8_tail(std::string_view text);
// ...and the first character boundary at or after `at` (text.size() at the most).
size_t utf8_boundary_from(std::string_view text, size_t at);

// Validates a byte stream that arrives in pieces: a character split between two pieces is
// fine, an ill-formed byte is not.
class Utf8Stream {
 public:
  bool feed(std::string_view piece);                  // false from the first ill-formed byte on
  bool complete() const { return pending_.empty(); }  // no character left half-way

 private:
  std::string pending_;  // the start of a character the next piece finishes
  bool bad_ = false;
};

}  // namespace smacs
