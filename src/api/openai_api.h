// The OpenAI chat-completions wire format: validating requests, building replies and errors.
// Pure functions (no I/O), so the request parser can be fuzzed on its own. Shared by the
// gateway (server/) and the in-process backend (generation/), so it sits below both.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace smacs {

struct ApiError {
  int status = 400;
  std::string type = "invalid_request_error";
  std::string message{};
  std::string param{};  // the offending field, if any
  std::string code{};
  double retry_after_s = 0;  // > 0: sent as a Retry-After header (429, 503)
};

nlohmann::json error_body(const ApiError& e);

// JSON from outside (a client's body, an upstream's reply) may nest at most this deep: deeper
// documents are refused before parsing, since copying or printing them recurses per level.
constexpr size_t kMaxJsonDepth = 128;
// How deep `text` nests arrays and objects (strings skipped), counting no further than `stop_at`.
size_t json_nesting(std::string_view text, size_t stop_at = kMaxJsonDepth + 1);
// Parses untrusted JSON; a discarded value when malformed or nested deeper than kMaxJsonDepth.
nlohmann::json parse_json_body(std::string_view text);  // {"error": {message, type, param, code}}

struct ChatRequest {
  std::string model;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  nlohmann::json body;         // the validated request, forwarded to backends
  std::string retrieval_key;   // text of the last user message: what SMACS retrieves by
  // The extension field {"smacs": {"max_cost_usd": x}}: what this request may spend at most
  // (taken out of `body`, so backends never see it).
  std::optional<double> max_cost_usd;
  // fields_for_upstream of this request, taken from the client's own text where it can be.
  std::string upstream_fields;
};

// Untrusted request text as a JSON object, or the 400 saying why it is not one (too deep, not
// JSON, not an object): the first step of every door's parser.
Result<nlohmann::json, ApiError> parse_request_object(std::string_view text);

// The request, or why it is not one (a 400 naming the field).
Result<ChatRequest, ApiError> parse_chat_request(std::string_view body);
// The same for a body already parsed (another API's request turned into a chat one); `text`,
// when given, is what it was parsed from.
Result<ChatRequest, ApiError> chat_request_from_json(nlohmann::json body,
                                                     std::string_view text = {});

// A request's fields other than model, stream and stream_options, serialised as `"key":value`
// pairs joined by commas: what every upstream is sent whatever model it names, so a request
// asked of several backends is serialised once.
std::string fields_for_upstream(const nlohmann::json& body);
// The same, cut from the text `body` was parsed from (no re-serialisation) when every top-level
// key is written plainly and once; else as above.
std::string fields_for_upstream(const nlohmann::json& body, std::string_view text);
// The text of a chat body whose "messages" are `messages_text` (the client's own bytes, which
// the caller knows to equal body["messages"]) and whose other members are serialised: what a
// translated request passes to chat_request_from_json so a long prompt is not serialised again.
// "" when messages_text is "".
std::string chat_body_text(const nlohmann::json& body, std::string_view messages_text);
// The body an upstream gets: its model id, streaming or not, then `fields` (from above).
std::string upstream_body(const std::string& model, bool stream, std::string_view fields);

// The text of a message's content: a string, or an array of {"type":"text","text":...}
// parts joined by newlines; nullopt when it is neither.
std::optional<std::string> content_text(const nlohmann::json& content);

// Members of untrusted JSON read without throwing (nlohmann's value() throws when the member
// has another type): `fallback` when `j` is not an object, lacks `key`, or holds another type.
std::string string_member(const nlohmann::json& j, const char* key, std::string fallback = {});
int64_t int_member(const nlohmann::json& j, const char* key, int64_t fallback);
bool is_true(const nlohmann::json& j, const char* key);  // the member is the boolean true

// A chat.completion object with one assistant message.
nlohmann::json completion_body(const std::string& id, const std::string& model,
                               const std::string& content, const nlohmann::json& usage);

// One chat.completion.chunk with one choice (`delta`, `finish_reason`: null while it goes on),
// and a chunk as the Server-Sent Event "data: {...}\n\n".
nlohmann::json completion_chunk(const std::string& id, const std::string& model, int64_t created,
                                const nlohmann::json& delta, const nlohmann::json& finish_reason);
std::string chunk_event(const nlohmann::json& chunk);

// An assistant `message` ({content, tool_calls?}) as Server-Sent Events chunks ("data: {...}\n\n"
// ... "data: [DONE]\n\n"). `extra` (e.g. the smacs trace) rides on the first chunk; a `usage`
// object adds the include_usage chunk before [DONE].
std::vector<std::string> completion_sse(const std::string& id, const std::string& model,
                                        const nlohmann::json& message,
                                        const nlohmann::json& finish_reason,
                                        const nlohmann::json& extra, const nlohmann::json& usage);

}  // namespace smacs
