#include "embedding/embedder.h"

#include "core/error.h"

namespace smacs {

#ifndef SMACS_WITH_LLAMA
std::shared_ptr<Embedder> make_llama_embedder(const LlamaEmbedderConfig&) {
  throw Error(
      "the llama embedder needs llama.cpp; this smacs was built with -DSMACS_WITH_LLAMA=OFF");
}
#endif

}  // namespace smacs
