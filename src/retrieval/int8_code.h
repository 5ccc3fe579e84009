// A unit vector as int8 codes times one scale: a quarter of its floats' bytes. The dense
// indexes read codes first where a search is bound by memory (dense_index.cpp, packed_layer.cpp).
#pragma once
#include <cstddef>
#include <cstdint>

namespace smacs {

struct Int8Code {
  float scale = 0;  // x ~ scale * code (the largest |x| maps to 127)
  float error = 0;  // |x - scale * code|: how far a dot product with the codes can be off
};

// Writes dim codes of x to `code`.
Int8Code quantize(const float* x, size_t dim, int8_t* code);

// Sum of a[i] * b[i] (compiled for AVX-512 and AVX2 beside the baseline, picked at load time).
int32_t dot_int8(const int8_t* a, const int8_t* b, size_t n);

}  // namespace smacs
