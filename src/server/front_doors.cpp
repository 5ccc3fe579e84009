// The Responses and Messages doors of `smacs serve`: each turns its API's request into the
// internal chat request and hands it to GatewayServer::serve, which answers in the door's shape
// (server/front_door.h). The translation itself is in api/responses_api.h and api/messages_api.h.
#include "api/messages_api.h"
#include "api/responses_api.h"
#include "core/random_id.h"
#include "server/gateway_server.h"
#include "server/http_util.h"

namespace smacs {

using nlohmann::json;

std::unique_ptr<ApiStream> FrontDoor::translator(const json& extra, bool events) const {
  switch (api) {
    case Api::kResponses:
      return make_responses_stream(id, model, echo, extra, events);
    case Api::kMessages:
      return make_messages_stream(id, model, extra, events);
    case Api::kChat:
      break;
  }
  return nullptr;
}

std::string new_answer_id(const char* prefix, const std::string& replica) {
  std::string id = prefix;
  if (!replica.empty()) id.append(replica).append("-");
  return id.append(random_id_128());
}

void GatewayServer::responses(const HttpRequest& req, HttpResponse& res) {
  auto door = open_door(FrontDoor::Api::kResponses, "resp_", req, res);
  if (reject_unauthorized(config_.api_keys, req, res)) return;
  auto parsed = parse_responses_request(req.body);
  if (!parsed.ok()) return send_error(res, parsed.error());
  json items = json::array();
  if (!parsed->previous_response_id.empty()) {
    auto stored = responses_.get(parsed->previous_response_id, door->owner);
    if (!stored)
      return send_error(res,
                        {.status = 404,
                         .type = "invalid_request_error",
                         .message = "Previous response with id '" + parsed->previous_response_id +
                                    "' not found (it was stored with store: false, by "
                                    "another key, or is no longer remembered)",
                         .param = "previous_response_id",
                         .code = "previous_response_not_found"});
    items = json::parse(stored->input);             // its own text: valid
    json response = json::parse(stored->response);  // held: a range-for over a temporary's
    for (auto& item : response["output"]) items.push_back(std::move(item));  // member dangles
  }
  const size_t first_own = items.size();
  for (auto& item : parsed->input_items) items.push_back(std::move(item));
  auto messages = items_to_messages(parsed->instructions, items, first_own);
  if (!messages.ok()) return send_error(res, messages.error());
  json body = responses_chat_body(*parsed, std::move(*messages));
  const std::string text = responses_chat_text(*parsed, body);
  auto chat = chat_request_from_json(std::move(body), text);
  if (!chat.ok()) return send_error(res, chat.error());
  door->model = parsed->model;
  door->echo = std::move(parsed->echo);
  door->items = first_own == 0 && !parsed->input_items_text.empty()
                    ? std::move(parsed->input_items_text)  // the client's bytes: no serialising
                    : dump_safe(items);
  door->store = parsed->store;
  serve(req, res, std::move(*chat), std::move(door));
}

void stored_response(ResponseStore& store, const std::vector<std::string>& keys,
                     const HttpRequest& req, HttpResponse& res) {
  if (reject_unauthorized(keys, req, res)) return;
  const std::string id = req.path.substr(std::string("/v1/responses/").size());
  const std::string owner = *client_key(keys, req);
  const auto missing = ApiError{.status = 404,
                                .type = "invalid_request_error",
                                .message = "No response found with id '" + id + "'",
                                .code = "not_found"};
  if (req.method == "DELETE") {
    if (!store.erase(id, owner)) return send_error(res, missing);
    return send_json(res, {{"id", id}, {"object", "response"}, {"deleted", true}});
  }
  const auto stored = store.get(id, owner);
  if (!stored) return send_error(res, missing);
  res.content_type = "application/json";
  res.body = stored->response;
}

void store_response(ResponseStore& store, const FrontDoor& door, const json& object,
                    const std::string* sent) {
  if (door.api != FrontDoor::Api::kResponses || !door.store) return;
  store.put(door.id, door.owner, {door.items, sent ? *sent : dump_safe(object)});
}

void GatewayServer::messages(const HttpRequest& req, HttpResponse& res) {
  auto door = open_door(FrontDoor::Api::kMessages, "msg_", req, res);
  if (reject_unauthorized(config_.api_keys, req, res)) return;
  auto parsed = parse_messages_request(req.body);
  if (!parsed.ok()) return send_error(res, parsed.error());
  auto chat = chat_request_from_json(std::move(parsed->chat), parsed->chat_text);
  if (!chat.ok()) return send_error(res, chat.error());
  door->model = parsed->model;
  serve(req, res, std::move(*chat), std::move(door));
}

// An estimate (about four bytes a token): smacs does not know each backend's tokenizer.
void count_tokens(const std::vector<std::string>& keys, const HttpRequest& req, HttpResponse& res) {
  if (reject_unauthorized(keys, req, res)) return;
  auto body = parse_request_object(req.body);
  if (!body.ok()) return send_error(res, body.error());
  if (!body->contains("max_tokens")) (*body)["max_tokens"] = 1;  // not asked here
  const auto parsed = messages_request_from_json(*body);
  if (!parsed.ok()) return send_error(res, parsed.error());
  send_json(res, {{"input_tokens", estimate_input_tokens(parsed->chat)}});
}

}  // namespace smacs
