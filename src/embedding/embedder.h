// The Embedder seam: turns a question into a vector whose dot product is cosine similarity.
//
// The built-in TfidfEmbedder needs corpus statistics and so is fitted on the bank's
// questions; a pretrained embedder (an OpenAI-compatible /v1/embeddings endpoint, a GGUF
// model) ignores fit().
#pragma once
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

}  // namespace smacs
