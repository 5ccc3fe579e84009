// The Embedder seam: turns a question into a vector whose dot product is cosine similarity.
//
// The built-in TfidfEmbedder needs corpus statistics and so is fitted on the bank's
// questions; a pretrained embedder (an OpenAI-compatible /v1/embeddings endpoint, a GGUF
// model) ignores fit().
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/progress.h"
#include "embedding/sparse_vec.h"

namespace smacs {

class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual void fit(const std::vector<std::string>& corpus) = 0;
  virtual SparseVec embed(std::string_view text) const = 0;  // L2-normalised
  // Many texts (a whole bank); the default embeds them one by one.
  virtual std::vector<SparseVec> embed_all(const std::vector<std::string>& texts) const {
    std::vector<SparseVec> out;
    out.reserve(texts.size());
    for (const auto& t : texts) out.push_back(embed(t));
    return out;
  }
  virtual std::string name() const = 0;
  // What makes its vectors what they are (model and weights): the embedding cache's key.
  virtual std::string cache_key() const { return name(); }
};

struct LlamaEmbedderConfig {
  std::string gguf{};
  uint32_t context = 512;  // tokens per text
  int threads = 0;         // 0 = all cores
};

struct HttpEmbedderConfig {
  std::string base_url{};  // e.g. http://127.0.0.1:8000/v1 (POST {base_url}/embeddings)
  std::string model{};
  std::string api_key{};  // sent as Bearer when set
  size_t batch = 64;      // texts per request when embedding a bank
  int timeout_ms = 30000;
  int retries = 2;
  size_t max_connections = 16;
};

// An OpenAI-compatible /v1/embeddings endpoint (embedding/http_embedder.cpp).
std::shared_ptr<Embedder> make_http_embedder(const HttpEmbedderConfig& config);

// A GGUF embedding model run in-process (embedding/llama_embedder.cpp). Throws smacs::Error for
// a missing or bad GGUF file, or when smacs was built without llama.cpp.
std::shared_ptr<Embedder> make_llama_embedder(const LlamaEmbedderConfig& config);

// ${XDG_CACHE_HOME:-$HOME/.cache}/smacs/embeddings.sqlite (nullopt when neither is set).
std::optional<std::string> default_embedding_cache_path();

// Which embedder a config asks for.
struct EmbedderConfig {
  enum class Type { kTfidf, kLlama, kHttp } type = Type::kTfidf;
  LlamaEmbedderConfig llama;
  HttpEmbedderConfig http;
  // The SQLite file bank embeddings are kept in (embedding/embedding_cache.h); nullopt:
  // nowhere (`none` in configs and flags).
  std::optional<std::string> cache = default_embedding_cache_path();
};

// Many texts through embed_all() in chunks of 256, reporting progress after each (a pretrained
// embedder on a large bank can take minutes).
std::vector<SparseVec> embed_in_chunks(const Embedder& embedder,
                                       const std::vector<std::string>& texts,
                                       const Progress& progress = {});

// The pretrained embedder of a config, with its cache; nullptr for the built-in TF-IDF (fitted
// per bank, nothing to cache).
std::shared_ptr<Embedder> make_embedder(const EmbedderConfig& config);

}  // namespace smacs
