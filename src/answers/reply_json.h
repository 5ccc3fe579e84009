// Replies that answer in JSON, as ZeroEval asks models to: {"reasoning": "...", "answer": "..."},
// often fenced in ```json, not always well-formed (raw newlines, LaTeX backslashes that are
// not JSON escapes, a missing closing brace).
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace smacs {

// The reply's "answer" field: from the first complete JSON object when it parses, else read
// leniently after the first `"answer":`. nullopt when the reply has no answer field.
std::optional<std::string> json_answer_field(std::string_view reply);

// The same field as the JSON value it is (a string as written, no LaTeX repair; a list, a
// number, true); a leniently read field is a string. nullopt when there is none.
std::optional<nlohmann::json> json_answer_value(std::string_view reply);

// The first balanced {...} of the text (braces counted as ZeroEval does, strings included).
std::string_view first_json_object(std::string_view s);

}  // namespace smacs
