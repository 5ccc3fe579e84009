// The GGUF models the llama tests write (random weights; llama/tiny_gguf.h), once per process.
#pragma once
#include <string>

#include "llama/tiny_gguf.h"
#include "test_util.h"

namespace smacs::test {

inline const std::string& tiny_model() {
  static const std::string path = [] {
    const std::string p = temp_path("tiny.gguf");
    write_tiny_gguf(p, TinyModelSpec{});
    return p;
  }();
  return path;
}

// Slower per token than the tiny one (~10 ms here), so a request is still generating when the
// next ones arrive, and 1,500 tokens take seconds.
inline const std::string& small_model() {
  static const std::string path = [] {
    const std::string p = temp_path("small.gguf");
    write_tiny_gguf(p, {.vocab = 4096,
                        .embd = 512,
                        .layers = 6,
                        .heads = 8,
                        .kv_heads = 8,
                        .ff = 1024,
                        .context = 2048});
    return p;
  }();
  return path;
}

}  // namespace smacs::test
