// The OpenAI chat-completions wire format: validating requests, building replies and errors.
// Pure functions (no I/O), so the request parser can be fuzzed on its own.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smacs {

struct ApiError {
  int status = 400;
  std::string type = "invalid_request_error";
  std::string message;
  std::string param;  // the offending field, if any
  std::string code;
};

nlohmann::json error_body(const ApiError& e);  // {"error": {message, type, param, code}}

struct ChatRequest {
  std::string model;
  bool stream = false;
  nlohmann::json body;        // the validated request, forwarded to backends
  std::string retrieval_key;  // text of the last user message: what SMACS retrieves by
};

struct ParsedChat {
  std::optional<ChatRequest> request;
  ApiError error;  // meaningful when !request
};

ParsedChat parse_chat_request(std::string_view body);

// The text of a message's content: a string, or an array of {"type":"text","text":...}
// parts joined by newlines; nullopt when it is neither.
std::optional<std::string> content_text(const nlohmann::json& content);

// A chat.completion object with one assistant message.
nlohmann::json completion_body(const std::string& id, const std::string& model,
                               const std::string& content, const nlohmann::json& usage);

// The same answer as Server-Sent Events chunks ("data: {...}\n\n" ... "data: [DONE]\n\n").
// `extra` (e.g. the smacs trace) rides on the first chunk.
std::vector<std::string> completion_sse(const std::string& id, const std::string& model,
                                        const std::string& content, const nlohmann::json& extra);

}  // namespace smacs
