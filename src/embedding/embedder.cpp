#include "embedding/embedder.h"

#include <algorithm>

#include "core/error.h"
#include "embedding/embedding_cache.h"

namespace smacs {

std::vector<SparseVec> embed_in_chunks(const Embedder& embedder,
                                       const std::vector<std::string>& texts,
                                       const Progress& progress) {
  constexpr size_t kChunk = 256;
  std::vector<SparseVec> out;
  out.reserve(texts.size());
  for (size_t i = 0; i < texts.size(); i += kChunk) {
    const std::vector<std::string> chunk(
        texts.begin() + static_cast<std::ptrdiff_t>(i),
        texts.begin() + static_cast<std::ptrdiff_t>(std::min(texts.size(), i + kChunk)));
    for (auto& v : embedder.embed_all(chunk)) out.push_back(std::move(v));
    if (progress) progress(out.size(), texts.size());
  }
  return out;
}

std::shared_ptr<Embedder> make_embedder(const EmbedderConfig& config) {
  std::shared_ptr<Embedder> e;
  switch (config.type) {
    case EmbedderConfig::Type::kLlama:
      e = make_llama_embedder(config.llama);
      break;
    case EmbedderConfig::Type::kHttp:
      e = make_http_embedder(config.http);
      break;
    case EmbedderConfig::Type::kTfidf:
      return nullptr;
  }
  return with_embedding_cache(std::move(e), config.cache);
}

#ifndef SMACS_WITH_LLAMA
std::shared_ptr<Embedder> make_llama_embedder(const LlamaEmbedderConfig&) {
  throw Error(
      "the llama embedder needs llama.cpp; this smacs was built with -DSMACS_WITH_LLAMA=OFF");
}
#endif

}  // namespace smacs
