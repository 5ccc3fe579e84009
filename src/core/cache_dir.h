// Where smacs keeps its caches (embeddings, bank snapshots of databases, aggregator replies).
#pragma once
#include <cstdlib>
#include <optional>
#include <string>

namespace smacs {

// ${XDG_CACHE_HOME:-$HOME/.cache}/smacs; nullopt when neither is set.
inline std::optional<std::string> cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::string(xdg) + "/smacs";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/smacs";
  return std::nullopt;
}

}  // namespace smacs
