// OpenAI's Responses API (POST /v1/responses) as a front door onto the chat-completions core:
// its request becomes a chat request, the chat reply becomes a Response object or its typed
// events. Pure functions and one translator, no I/O (fuzzed with the chat parser).
//
// Supported: `input` as a string or items (messages with text and image parts, function_call,
// function_call_output; reasoning items are skipped), `instructions`, function `tools`,
// `tool_choice`, `max_output_tokens`, `temperature`, `top_p`, `parallel_tool_calls`, `text`
// formats (text, json_object, json_schema), `metadata`, `store`, `previous_response_id`,
// `stream`, `user`; `reasoning`, `include`, `truncation`, `service_tier`, `prompt_cache_key`
// and `safety_identifier` are accepted and have no effect. Refused with a 400 naming the
// parameter: built-in tools (web search, file search, ...), `background`, `conversation`,
// `prompt`, file inputs, item references, anything unknown.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/api_stream.h"
#include "api/openai_api.h"
#include "core/result.h"

namespace smacs {

struct ResponsesRequest {
  std::string model;
  bool stream = false;
  bool store = true;
  std::string previous_response_id;  // "": none
  nlohmann::json instructions;       // a string, or null
  nlohmann::json input_items;        // this request's input as items (a string: one user message)
  // The client's own bytes where they pass on unchanged, so a long prompt is not serialised
  // again ("" when they could not be taken: a key written with escapes or twice):
  std::string input_items_text;  // input_items as JSON text
  std::string messages_text;     // a string input's chat messages as JSON text ("" otherwise)
  nlohmann::json chat;  // the chat-completions fields it maps to (not model, messages, stream)
  nlohmann::json echo;  // what the Response object repeats back (tools, metadata, ...)
};

Result<ResponsesRequest, ApiError> parse_responses_request(std::string_view text);

// Items (a remembered conversation's, then this request's from `first_own` on) as chat messages,
// after `instructions` as a system message. Errors name `input[i]` counted from first_own.
Result<nlohmann::json, ApiError> items_to_messages(const nlohmann::json& instructions,
                                                   const nlohmann::json& items, size_t first_own);

// The chat-completions request body the Responses request is asked as.
nlohmann::json responses_chat_body(const ResponsesRequest& request, nlohmann::json messages);

// That body's text with the client's bytes spliced in (for chat_request_from_json), or "" when
// its messages are not the request's own string input (then the body is serialised).
std::string responses_chat_text(const ResponsesRequest& request, const nlohmann::json& body);

// The translator for one response `id` (resp_...): `extra` members (the smacs trace) ride on
// the Response object; `events` false builds only the object (a reply that is not streamed).
std::unique_ptr<ApiStream> make_responses_stream(const std::string& id, const std::string& model,
                                                 const nlohmann::json& echo,
                                                 const nlohmann::json& extra, bool events);

}  // namespace smacs
