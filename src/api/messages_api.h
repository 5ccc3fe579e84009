// Anthropic's Messages API (POST /v1/messages) as a front door onto the chat-completions core:
// its request becomes a chat request, the chat reply becomes a Message object or its events,
// and errors take Anthropic's shape. Pure functions and one translator, no I/O.
//
// Supported: `model`, `max_tokens` (required), `system` (a string or text blocks), `messages`
// with string content or blocks (text, image with a base64 or url source, tool_use,
// tool_result; thinking blocks are skipped), `tools` (custom tools with input_schema),
// `tool_choice` (auto, any, tool, none; disable_parallel_tool_use), `stop_sequences`,
// `temperature`, `top_p`, `metadata.user_id`, `stream`; `top_k`, `thinking`, `service_tier`
// are accepted and have no effect. Refused with a 400 naming the parameter: server tools
// (web search, code execution, ...), documents, `container`, `mcp_servers`, anything unknown.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/api_stream.h"
#include "api/openai_api.h"
#include "core/result.h"

namespace smacs {

struct MessagesRequest {
  std::string model;
  bool stream = false;
  nlohmann::json chat;    // the chat-completions request body it is asked as
  std::string chat_text;  // its text with the client's messages spliced in, when they pass on
                          // unchanged (for chat_request_from_json); "" otherwise
};

Result<MessagesRequest, ApiError> parse_messages_request(std::string_view text);
// The same from a body already parsed (count_tokens'): no chat_text, which splices `text`.
Result<MessagesRequest, ApiError> messages_request_from_json(const nlohmann::json& body);

// {"type":"error","error":{"type": Anthropic's name for the status, "message"}}
nlohmann::json anthropic_error_body(const ApiError& e);
// An OpenAI-shaped error body re-shaped as Anthropic's (a body already in that shape, or not
// an error, comes back unchanged).
std::string anthropic_error_text(int status, const std::string& openai_body);

// A rough token count of a Messages request (count_tokens): about four bytes a token.
int64_t estimate_input_tokens(const nlohmann::json& chat_body);

// The translator for one message `id` (msg_...): `extra` members (the smacs trace) ride on the
// Message object; `events` false builds only the object.
std::unique_ptr<ApiStream> make_messages_stream(const std::string& id, const std::string& model,
                                                const nlohmann::json& extra, bool events);

}  // namespace smacs
