// Which API a request came in by. Every door leads to the same internal request (a
// ChatRequest: SMACS or a pass-through, budgets, feedback, traces, metrics); the door only
// decides the shape of what goes back: a chat.completion, a Response, or an Anthropic Message.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "api/api_stream.h"
#include "generation/backend.h"
#include "server/http_server.h"
#include "server/response_store.h"

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

// A fresh answer id: prefix, the replica's name (so a balancer can route feedback), 128 random
// bits.
std::string new_answer_id(const char* prefix, const std::string& replica);

// front_doors.cpp: a door's whole reply, once made: the Responses door remembers it (store).
// `sent`, when given, is the object's JSON text as it went to the client.
void store_response(ResponseStore& store, const FrontDoor& door, const nlohmann::json& object,
                    const std::string* sent = nullptr);
// GET and DELETE /v1/responses/{id}: a stored response, only to the key that made it.
void stored_response(ResponseStore& store, const std::vector<std::string>& keys,
                     const HttpRequest& req, HttpResponse& res);
// POST /v1/messages/count_tokens: an estimate (about four bytes a token).
void count_tokens(const std::vector<std::string>& keys, const HttpRequest& req, HttpResponse& res);

// relay.cpp: a backend failure as clients should see it: the backend's own refusal (4xx) as
// it came, a 429 with the backend's Retry-After, an open circuit as 503, a timeout as 504,
// anything else a retry could fix as 502.
ApiError backend_error(const std::string& name, const BackendError& error);
// A stream that failed: the error as a whole response when nothing was sent yet, else the
// door's error event and the end.
void fail_stream(StreamReply& out, HttpResponse head, const ApiError& e,
                 ApiStream* translator = nullptr);

}  // namespace smacs
