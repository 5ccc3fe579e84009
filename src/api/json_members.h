// The top-level members of a JSON object as spans of its own text, so that a request can be
// forwarded without being re-serialised (the client's bytes, minus the fields smacs sets).
#pragma once
#include <optional>
#include <string_view>
#include <vector>

namespace smacs {

struct JsonMember {
  std::string_view key;    // between the quotes, as written
  std::string_view value;  // the value's text, as written
};

// The members of `text`, which must already be known to be a valid JSON object (it was
// parsed). nullopt when a key holds an escape (its raw text is then not its name): callers
// fall back to serialising the parsed value. Iterative: a deep value costs no stack.
std::optional<std::vector<JsonMember>> top_level_members(std::string_view text);

}  // namespace smacs
