// A pretrained embedder's vectors kept on disk, so that a bank is embedded once, not at every
// `serve` start or `eval` run: a GGUF model on the CPU or a paid /v1/embeddings API would
// otherwise embed every bank question again each time.
//
// A SQLite file keyed by the embedder (Embedder::cache_key(): which model, which weights) and
// the exact text. Only embed_all() (whole banks) reads and fills it; single queries go straight
// to the embedder. It is only a cache: a file that cannot be opened or read is reported once
// on stderr and bypassed, never a reason to fail. Several processes may share one file.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "embedding/embedder.h"

namespace smacs {

// `inner` with its bank embeddings cached in `path`; `inner` itself for nullopt.
std::shared_ptr<Embedder> with_embedding_cache(std::shared_ptr<Embedder> inner,
                                               const std::optional<std::string>& path);

// Stores precomputed vectors of `texts` (an imported bank's) in the cache at `path` as the
// vectors of `embedder` (a pretrained one), so that a bank built with it finds them instead of
// embedding again. The embedder is asked once (a probe) for its width: vectors of another width
// are a clear error, for they could never be compared with its query vectors.
void seed_embedding_cache(const std::string& path, std::shared_ptr<Embedder> embedder,
                          const std::vector<std::string>& texts,
                          const std::vector<std::vector<float>>& vectors);

}  // namespace smacs
