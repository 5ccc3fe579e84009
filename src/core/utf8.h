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

// `bytes` cut to at most `max_bytes` (on a character boundary) with every ill-formed byte
// replaced by U+FFFD: safe to put into JSON and logs.
std::string printable(std::string_view bytes, size_t max_bytes = 200);

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
