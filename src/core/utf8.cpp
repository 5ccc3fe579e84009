#include "core/utf8.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace smacs {

namespace {

// The length of the well-formed sequence at `s[i]`, 0 when it is ill-formed, and -1 when it
// is a valid start cut short by the end of `s`.
int sequence_at(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  int len;
  unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range (RFC 3629's table)
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
  } else {
    return 0;
  }
  for (int k = 1; k < len; ++k) {
    if (i + k >= s.size()) return -1;
    const unsigned char n = b(i + k);
    if (k == 1 ? (n < lo || n > hi) : (n < 0x80 || n > 0xBF)) return 0;
  }
  return len;
}

}  // namespace

std::optional<size_t> invalid_utf8_at(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    // Plain ASCII eight bytes at a time: most of any JSON reply.
    while (i + 8 <= s.size()) {
      uint64_t word;
      std::memcpy(&word, s.data() + i, 8);
      if (word & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= s.size()) break;
    const int n = sequence_at(s, i);
    if (n <= 0) return i;
    i += static_cast<size_t>(n);
  }
  return std::nullopt;
}

std::string printable(std::string_view s, size_t max_bytes) {
  std::string out;
  out.reserve(std::min(s.size(), max_bytes));
  for (size_t i = 0; i < s.size();) {
    const int n = sequence_at(s, i);
    const std::string_view piece = n > 0 ? s.substr(i, static_cast<size_t>(n)) : "\xEF\xBF\xBD";
    if (out.size() + piece.size() > max_bytes) break;
    out += piece;
    i += n > 0 ? static_cast<size_t>(n) : 1;
  }
  return out;
}

std::string valid_utf8(std::string_view bytes) { return printable(bytes, SIZE_MAX); }

size_t incomplete_utf8_tail(std::string_view text) {
  for (size_t back = 1; back <= std::min<size_t>(3, text.size()); ++back) {
    const auto c = static_cast<unsigned char>(text[text.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    const size_t length = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return length > back ? back : 0;
  }
  return 0;
}

size_t utf8_boundary_from(std::string_view text, size_t at) {
  while (at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) ++at;
  return std::min(at, text.size());
}

bool Utf8Stream::feed(std::string_view piece) {
  if (bad_) return false;
  size_t i = 0;
  if (!pending_.empty()) {  // finish the character the last piece began
    while (i < piece.size() && pending_.size() < 4) {
      pending_ += piece[i++];
      const int n = sequence_at(pending_, 0);
      if (n == 0) return !(bad_ = true);
      if (n > 0) break;
    }
    if (sequence_at(pending_, 0) < 0) return true;  // still half-way
    pending_.clear();
  }
  const std::string_view rest = piece.substr(i);
  const auto at = invalid_utf8_at(rest);
  if (!at) return true;
  if (sequence_at(rest, *at) < 0) {  // a character the next piece finishes
    pending_.assign(rest.substr(*at));
    return true;
  }
  return !(bad_ = true);
}

}  // namespace smacs
