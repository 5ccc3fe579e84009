#include "generation/backend.h"

#include "core/error.h"

namespace smacs {

std::unique_ptr<Backend> make_backend(const BackendConfig& config) {
  if (config.type == BackendConfig::Type::kLlama) return make_llama_backend(config.llama);
  return make_http_backend(config.http);
}

#ifndef SMACS_WITH_LLAMA
std::unique_ptr<Backend> make_llama_backend(const LlamaBackendConfig& config) {
  throw Error("model '" + config.name +
              "': this smacs was built without llama.cpp (-DSMACS_WITH_LLAMA=OFF)");
}
#endif

}  // namespace smacs
