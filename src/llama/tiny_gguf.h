// A small llama-architecture GGUF model with random weights, written with ggml's own GGUF
// writer. No weights can be downloaded where smacs is tested, so tests and benchmarks make
// their models with this; `smacs llama tiny` writes one for users to try the llama backend.
//
// The tokenizer is a SentencePiece-style vocabulary: control tokens (<unk>, <s>, </s>,
// <|im_start|>, <|im_end|>), the 256 byte tokens, then letter pieces, so any text tokenises.
// The chat template is ChatML. Output is noise; speed and plumbing are what it exercises.
#pragma once
#include <cstdint>
#include <string>

namespace smacs {

struct TinyModelSpec {
  uint32_t vocab = 512;  // at least 300
  uint32_t embd = 64;
  uint32_t layers = 2;
  uint32_t heads = 4;
  uint32_t kv_heads = 2;
  uint32_t ff = 128;
  uint32_t context = 1024;
  bool f16 = false;  // F16 matrices (as real models ship) instead of F32
  uint64_t seed = 1;
  std::string chat_template{};  // tokenizer.chat_template; "" = ChatML
};

// Writes the model; throws smacs::Error when the spec is invalid, over 4 GiB of F32 weights,
// or the file cannot be written.
void write_tiny_gguf(const std::string& path, const TinyModelSpec& spec);

}  // namespace smacs
