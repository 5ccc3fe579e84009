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

#include "embedding/embedder.h"

namespace smacs {

// `inner` with its bank embeddings cached in `path`; `inner` itself for nullopt.
std::shared_ptr<Embedder> with_embedding_cache(std::shared_ptr<Embedder> inner,
                                               const std::optional<std::string>& path);

}  // namespace smacs
