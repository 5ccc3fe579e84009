#include "embedding/embedder.h"

#include "core/error.h"

namespace smacs {

std::shared_ptr<Embedder> make_embedder(const EmbedderConfig& config) {
  switch (config.type) {
    case EmbedderConfig::Type::kLlama:
      return make_llama_embedder(config.llama);
    case EmbedderConfig::Type::kHttp:
      return make_http_embedder(config.http);
    case EmbedderConfig::Type::kTfidf:
      break;
  }
  return nullptr;
}

#ifndef SMACS_WITH_LLAMA
std::shared_ptr<Embedder> make_llama_embedder(const LlamaEmbedderConfig&) {
  throw Error(
      "the llama embedder needs llama.cpp; this smacs was built with -DSMACS_WITH_LLAMA=OFF");
}
#endif

}  // namespace smacs
