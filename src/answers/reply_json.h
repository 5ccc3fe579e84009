// Replies that answer in JSON, as ZeroEval asks models to: {"reasoning": "...", "answer": "..."},
// often fenced in ```json, not always well-formed (raw newlines, LaTeX backslashes that are
// not JSON escapes, a missing closing brace).
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace smacs {

// The reply's "answer" field: from the first complete JSON object when it parses, else read
// leniently after the first `"answer":`. nullopt when the reply has no answer field.
std::optional<std::string> json_answer_field(std::string_view reply);

}  // namespace smacs
