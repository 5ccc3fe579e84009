// Every key of a `smacs serve` config in one table: its section, its default (or an example),
// and what it does. The parser takes its lists of known keys from here, and the reference in
// docs/configuration.md is generated from it (`smacs serve --config-reference`; a test keeps the
// file equal to it), so the keys, the checks and the docs cannot drift apart.
#pragma once
#include <set>
#include <span>
#include <string>
#include <string_view>

namespace smacs {

struct ConfigKey {
  std::string_view section;  // "" (the top level), "smacs", "pool", "pool.llama",
                             // "embedder.http", "embedder.llama"
  std::string_view key;
  std::string_view value;  // a valid YAML value: the default, or an example when there is none
  bool is_default;         // false: `value` is an example (the key is required or optional)
  std::string_view doc;
};

std::span<const ConfigKey> config_schema();

// The keys a section may hold (the parser's check for unknown keys).
std::set<std::string> config_keys(std::string_view section);

// The reference as Markdown: one table per section.
std::string config_reference();

}  // namespace smacs
