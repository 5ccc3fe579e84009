// The Embedder seam: turns a question into a vector whose dot product is cosine similarity.
//
// The built-in TfidfEmbedder needs corpus statistics and so is fitted on the bank's
// questions; a pretrained embedder (an OpenAI-compatible /v1/embeddings endpoint, a GGUF
// model) ignores fit().
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "embedding/sparse_vec.h"

namespace smacs {

class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual void fit(const std::vector<std::string>& corpus) = 0;
  virtual SparseVec embed(std::string_view text) const = 0;  // L2-normalised
  virtual std::string name() const = 0;
};

struct LlamaEmbedderConfig {
  std::string gguf;
  uint32_t context = 512;  // tokens per text
  int threads = 0;         // 0 = all cores
};

// A GGUF embedding model run in-process (embedding/llama_embedder.cpp). Throws smacs::Error for
// a missing or bad GGUF file, or when smacs was built without llama.cpp.
std::shared_ptr<Embedder> make_llama_embedder(const LlamaEmbedderConfig& config);

}  // namespace smacs
