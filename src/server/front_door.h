// Which API a request came in by. Every door leads to the same internal request (a
// ChatRequest: SMACS or a pass-through, budgets, feedback, traces, metrics); the door only
// decides the shape of what goes back: a chat.completion, a Response, or an Anthropic Message.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "api/api_stream.h"

namespace smacs {

struct FrontDoor {
  enum class Api { kChat, kResponses, kMessages };
  Api api = Api::kChat;
  std::string id;       // the answer's id: chatcmpl-..., resp_..., msg_...
  std::string model;    // as the client named it
  std::string owner;    // the API key that asked ("" when keys are off)
  nlohmann::json echo;  // Responses: what the Response object repeats
  std::string items;    // Responses: the conversation as items, JSON text (a stored one's, then
                        // the input's)
  bool store = false;   // Responses: remember the response under `id`

  // The reply re-spoken for this door (nullptr for chat completions: they need no translation).
  std::unique_ptr<ApiStream> translator(const nlohmann::json& extra, bool events) const;
};

}  // namespace smacs
