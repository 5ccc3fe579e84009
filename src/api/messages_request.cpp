// A Messages API request as the chat-completions request it stands for (api/messages_api.h).
#include <set>

#include "api/json_members.h"
#include "api/messages_api.h"

namespace smacs {

using nlohmann::json;

namespace {

Failure<ApiError> refuse(std::string message, std::string param) {
  return failure(ApiError{.message = std::move(message), .param = std::move(param)});
}

const std::set<std::string> kIgnored = {"top_k", "thinking", "service_tier", "anthropic_version"};

// Text of a tool_result's or the system's content: a string or text blocks.
std::optional<std::string> block_text(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  if (content.is_null()) return std::string();
  if (!content.is_array()) return std::nullopt;
  std::string text;
  for (const auto& block : content) {
    if (string_member(block, "type") != "text") return std::nullopt;
    if (!block.contains("text") || !block["text"].is_string()) return std::nullopt;
    if (!text.empty()) text += '\n';
    text += block["text"].get<std::string>();
  }
  return text;
}

Result<json, ApiError> image_part(const json& block, const std::string& param) {
  const json source = block.value("source", json::object());
  const std::string type = string_member(source, "type");
  if (type == "base64" && source.contains("data") && source["data"].is_string())
    return json{{"type", "image_url"},
                {"image_url",
                 {{"url", "data:" + string_member(source, "media_type", "image/png") + ";base64," +
                              source["data"].get<std::string>()}}}};
  if (type == "url" && source.contains("url") && source["url"].is_string())
    return json{{"type", "image_url"}, {"image_url", {{"url", source["url"]}}}};
  return refuse(param + ".source must be a base64 or url image source", param + ".source");
}

// One message's blocks, appended to `out` in chat form: a user's tool results first (each a
// tool message), then its text and images; an assistant's text and tool calls as one message.
std::optional<ApiError> add_message(const json& message, const std::string& param, json& out) {
  if (!message.is_object())
    return ApiError{.message = param + " must be an object", .param = param};
  const std::string role = message.contains("role") && message["role"].is_string()
                               ? message["role"].get<std::string>()
                               : "";
  if (role != "user" && role != "assistant")
    return ApiError{.message = param + ".role must be user or assistant", .param = param + ".role"};
  const json content = message.value("content", json());
  if (content.is_string()) {
    out.push_back({{"role", role}, {"content", content}});
    return std::nullopt;
  }
  if (!content.is_array())
    return ApiError{.message = param + ".content must be a string or an array of blocks",
                    .param = param + ".content"};
  json parts = json::array(), calls = json::array();
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& block = content[i];
    const std::string where = param + ".content[" + std::to_string(i) + "]";
    const std::string type = string_member(block, "type");
    if (type == "text" && block.contains("text") && block["text"].is_string()) {
      if (!text.empty()) text += '\n';
      text += block["text"].get<std::string>();
      parts.push_back({{"type", "text"}, {"text", block["text"]}});
    } else if (type == "image" && role == "user") {
      auto image = image_part(block, where);
      if (!image.ok()) return image.error();
      parts.push_back(std::move(*image));
    } else if (type == "tool_result" && role == "user") {
      const auto result = block_text(block.value("content", json()));
      if (!block.contains("tool_use_id") || !block["tool_use_id"].is_string() || !result)
        return ApiError{.message = where + " needs a string tool_use_id and text content",
                        .param = where};
      const bool is_error = is_true(block, "is_error");
      out.push_back({{"role", "tool"},
                     {"tool_call_id", block["tool_use_id"]},
                     {"content", is_error ? "Error: " + *result : *result}});
    } else if (type == "tool_use" && role == "assistant") {
      if (!block.contains("id") || !block["id"].is_string() || !block.contains("name") ||
          !block["name"].is_string())
        return ApiError{.message = where + " needs a string id and name", .param = where};
      calls.push_back({{"id", block["id"]},
                       {"type", "function"},
                       {"function",
                        {{"name", block["name"]},
                         {"arguments", block.value("input", json::object()).dump()}}}});
    } else if (type == "thinking" || type == "redacted_thinking") {
      continue;  // a reasoning model's notes: chat backends take none
    } else {
      return ApiError{.message = where + ": a " + role + " block of type '" + type +
                                 "' is not supported (text, image, tool_use, tool_result)",
                      .param = where + ".type"};
    }
  }
  if (role == "assistant") {
    json m = {{"role", "assistant"},
              {"content", text.empty() && !calls.empty() ? json() : json(text)}};
    if (!calls.empty()) m["tool_calls"] = std::move(calls);
    out.push_back(std::move(m));
  } else if (!parts.empty()) {
    out.push_back({{"role", "user"}, {"content", std::move(parts)}});
  }
  return std::nullopt;
}

Result<json, ApiError> chat_tools(const json& tools) {
  if (!tools.is_array()) return refuse("'tools' must be an array", "tools");
  json out = json::array();
  for (size_t i = 0; i < tools.size(); ++i) {
    const json& tool = tools[i];
    const std::string param = "tools[" + std::to_string(i) + "]";
    // No type is a custom tool; a type that is not a string is no known one.
    const std::string type =
        tool.is_object() && !tool.contains("type") ? "custom" : string_member(tool, "type");
    if (type != "custom")
      return refuse(param + ".type '" + type +
                        "' is not supported: server tools cannot run on chat-completions "
                        "backends; only custom tools (name, input_schema) reach them",
                    param + ".type");
    if (!tool.contains("name") || !tool["name"].is_string() || !tool.contains("input_schema") ||
        !tool["input_schema"].is_object())
      return refuse(param + " needs a string name and an input_schema object", param);
    json function = {{"name", tool["name"]}, {"parameters", tool["input_schema"]}};
    if (tool.contains("description")) function["description"] = tool["description"];
    out.push_back({{"type", "function"}, {"function", std::move(function)}});
  }
  return out;
}

// tool_choice into `chat`: its choice and whether calls may run in parallel.
std::optional<ApiError> take_tool_choice(const json& choice, json& chat) {
  const std::string type = string_member(choice, "type");
  if (type == "auto")
    chat["tool_choice"] = "auto";
  else if (type == "any")
    chat["tool_choice"] = "required";
  else if (type == "none")
    chat["tool_choice"] = "none";
  else if (type == "tool" && choice.contains("name") && choice["name"].is_string())
    chat["tool_choice"] = {{"type", "function"}, {"function", {{"name", choice["name"]}}}};
  else
    return ApiError{.message = "'tool_choice' must be {type: auto | any | none | tool, name}",
                    .param = "tool_choice"};
  if (is_true(choice, "disable_parallel_tool_use")) chat["parallel_tool_calls"] = false;
  return std::nullopt;
}

// The chat messages as the client's own bytes, when they are its messages unchanged (plain
// role and string content) after a string system prompt; "" otherwise (they are serialised).
std::string client_messages_text(std::string_view text, const json& body, const json& chat) {
  const auto members = top_level_members(text);
  if (!members) return "";
  std::string_view messages, system;
  int seen_messages = 0, seen_system = 0;
  for (const auto& [key, value] : *members) {
    if (key == "messages") messages = value, ++seen_messages;
    if (key == "system") system = value, ++seen_system;
  }
  const auto sys = body.find("system");
  const bool has_system = sys != body.end() && !(sys->is_string() && sys->empty());
  if (seen_messages != 1 || seen_system > 1 || (has_system && !sys->is_string())) return "";
  const json& own = body["messages"];
  const json& asked = chat["messages"];
  if (asked.size() != own.size() + has_system) return "";
  for (size_t i = 0; i < own.size(); ++i)
    if (asked[i + has_system] != own[i]) return "";
  if (!has_system) return std::string(messages);
  return "[{\"role\":\"system\",\"content\":" + std::string(system) + "}," +
         std::string(messages.substr(1));
}

}  // namespace

Result<MessagesRequest, ApiError> parse_messages_request(std::string_view text) {
  const auto parsed = parse_request_object(text);
  if (!parsed.ok()) return failure(parsed.error());
  auto out = messages_request_from_json(*parsed);
  if (out.ok())
    out->chat_text = chat_body_text(out->chat, client_messages_text(text, *parsed, out->chat));
  return out;
}

Result<MessagesRequest, ApiError> messages_request_from_json(const json& body) {
  const auto model = body.find("model");
  if (model == body.end() || !model->is_string() || model->get<std::string>().empty())
    return refuse("model: a non-empty string is required", "model");
  const auto max_tokens = body.find("max_tokens");
  if (max_tokens == body.end() || !max_tokens->is_number_integer() ||
      max_tokens->get<int64_t>() < 1)
    return refuse("max_tokens: an integer >= 1 is required", "max_tokens");
  const auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array() || messages->empty())
    return refuse("messages: a non-empty array is required", "messages");
  MessagesRequest out;
  out.model = model->get<std::string>();
  json chat = {{"model", out.model}, {"max_tokens", *max_tokens}};
  json chat_messages = json::array();
  if (const auto system = body.find("system"); system != body.end()) {
    const auto text = block_text(*system);
    if (!text) return refuse("system: a string or an array of text blocks", "system");
    if (!text->empty()) chat_messages.push_back({{"role", "system"}, {"content", *text}});
  }
  for (size_t i = 0; i < messages->size(); ++i)
    if (auto e = add_message((*messages)[i], "messages[" + std::to_string(i) + "]", chat_messages))
      return failure(std::move(*e));
  chat["messages"] = std::move(chat_messages);
  for (const auto& [key, value] : body.items()) {
    if (key == "model" || key == "max_tokens" || key == "messages" || key == "system" ||
        kIgnored.count(key))
      continue;
    if (key == "stream") {
      if (!value.is_boolean()) return refuse("stream: a boolean", "stream");
      out.stream = value.get<bool>();
    } else if (key == "tools") {
      auto tools = chat_tools(value);
      if (!tools.ok()) return failure(tools.error());
      if (!tools->empty()) chat["tools"] = std::move(*tools);
    } else if (key == "tool_choice") {
      if (auto e = take_tool_choice(value, chat)) return failure(std::move(*e));
    } else if (key == "stop_sequences") {
      const bool strings =
          value.is_array() && value.size() <= 4 &&
          std::all_of(value.begin(), value.end(), [](const json& s) { return s.is_string(); });
      if (!strings)
        return refuse("stop_sequences: an array of at most 4 strings (what the backends take)",
                      "stop_sequences");
      if (!value.empty()) chat["stop"] = value;
    } else if (key == "temperature" || key == "top_p" || key == "smacs") {
      chat[key] = value;  // checked as the chat request's own
    } else if (key == "metadata") {
      if (!value.is_object()) return refuse("metadata: an object", "metadata");
      if (const auto user = value.find("user_id"); user != value.end() && user->is_string())
        chat["user"] = *user;
    } else {
      return refuse(key + ": unknown or unsupported parameter", key);
    }
  }
  if (out.stream) {
    chat["stream"] = true;
    chat["stream_options"] = {{"include_usage", true}};  // the usage message_delta reports
  }
  out.chat = std::move(chat);
  return out;
}

json anthropic_error_body(const ApiError& e) {
  const char* type = "api_error";
  switch (e.status) {
    case 400:
      type = "invalid_request_error";
      break;
    case 401:
      type = "authentication_error";
      break;
    case 403:
      type = "permission_error";
      break;
    case 404:
      type = "not_found_error";
      break;
    case 413:
      type = "request_too_large";
      break;
    case 429:
      type = "rate_limit_error";
      break;
    case 503:
    case 529:
      type = "overloaded_error";
      break;
    case 504:
      type = "timeout_error";
      break;
    default:
      type = e.status < 500 ? "invalid_request_error" : "api_error";
  }
  return {{"type", "error"}, {"error", {{"type", type}, {"message", e.message}}}};
}

std::string anthropic_error_text(int status, const std::string& openai_body) {
  const json body = parse_json_body(openai_body);
  if (!body.is_object() || !body.contains("error") || !body["error"].is_object() ||
      string_member(body, "type") == "error")
    return openai_body;
  const json& error = body["error"];
  ApiError e{.status = status,
             .message = error.contains("message") && error["message"].is_string()
                            ? error["message"].get<std::string>()
                            : "error"};
  return anthropic_error_body(e).dump(-1, ' ', false, json::error_handler_t::replace);
}

int64_t estimate_input_tokens(const json& chat_body) {
  size_t bytes = 0;
  for (const char* key : {"messages", "tools"})
    if (const auto it = chat_body.find(key); it != chat_body.end())
      bytes += it->dump(-1, ' ', false, json::error_handler_t::replace).size();
  return std::max<int64_t>(1, static_cast<int64_t>(bytes / 4));
}

}  // namespace smacs
