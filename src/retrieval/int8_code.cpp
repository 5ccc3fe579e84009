#include "retrieval/int8_code.h"

#include <algorithm>
#include <cmath>

namespace smacs {

// The loop vectorises to widening multiply-adds.
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) int32_t dot_int8(
    const int8_t* a, const int8_t* b, size_t n) {
  int32_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum += int32_t(a[i]) * int32_t(b[i]);
  return sum;
}

// Written so that each loop vectorises (quantizing a million rows is part of opening an HNSW
// bank): the rounding half away from zero as a truncation, the error's sum in eight lanes.
Int8Code quantize(const float* x, size_t dim, int8_t* code) {
  float peak = 0;
  for (size_t i = 0; i < dim; ++i) peak = std::max(peak, std::abs(x[i]));
  Int8Code c{.scale = peak / 127.0f};
  const float inv = c.scale > 0 ? 1.0f / c.scale : 0.0f;
  for (size_t i = 0; i < dim; ++i)
    code[i] = static_cast<int8_t>(static_cast<int32_t>(x[i] * inv + std::copysign(0.5f, x[i])));
  float lanes[8] = {};
  size_t i = 0;
  for (; i + 8 <= dim; i += 8)
    for (size_t k = 0; k < 8; ++k) {
      const float d = x[i + k] - c.scale * code[i + k];
      lanes[k] += d * d;
    }
  double lost = 0;
  for (; i < dim; ++i) lost += double(x[i] - c.scale * code[i]) * (x[i] - c.scale * code[i]);
  for (const float lane : lanes) lost += lane;
  c.error = static_cast<float>(std::sqrt(lost));
  return c;
}

}  // namespace smacs
