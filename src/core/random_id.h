// Unguessable identifiers: 128 bits from the operating system's random source, as hex.
#pragma once
#include <cstdint>
#include <random>
#include <string>

namespace smacs {

inline std::string random_id_128() {
  thread_local std::random_device source;  // getrandom(2) on Linux: not predictable from output
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int word = 0; word < 4; ++word) {
    uint32_t v = source();
    for (int i = 0; i < 8; ++i, v >>= 4) out += hex[v & 15];
  }
  return out;
}

}  // namespace smacs
