// A Responses API request as the chat-completions request it stands for (api/responses_api.h).
#include <set>

#include "api/json_members.h"
#include "api/responses_api.h"

namespace smacs {

using nlohmann::json;

namespace {

Failure<ApiError> refuse(std::string message, std::string param) {
  return failure(ApiError{.message = std::move(message), .param = std::move(param)});
}

// Accepted with no effect: the backends are chat-completions endpoints without them.
const std::set<std::string> kIgnored = {"reasoning",         "include",          "truncation",
                                        "service_tier",      "prompt_cache_key", "top_logprobs",
                                        "safety_identifier", "stream_options"};
const std::set<std::string> kRefused = {"background", "conversation", "prompt", "max_tool_calls",
                                        "prompt_cache_retention"};

// A function tool in chat form; anything else is refused.
Result<json, ApiError> chat_tool(const json& tool, const std::string& param) {
  if (!tool.is_object()) return refuse(param + " must be an object", param);
  const std::string type = string_member(tool, "type");
  if (type != "function")
    return refuse(param + ".type '" + type +
                      "' is not supported: smacs's backends are chat-completions endpoints, "
                      "only function tools reach them",
                  param + ".type");
  const auto name = tool.find("name");
  if (name == tool.end() || !name->is_string() || name->get<std::string>().empty())
    return refuse(param + ".name must be a non-empty string", param + ".name");
  json function = {{"name", *name}};
  for (const char* key : {"description", "parameters", "strict"})
    if (tool.contains(key) && !tool[key].is_null()) function[key] = tool[key];
  return json{{"type", "function"}, {"function", std::move(function)}};
}

Result<json, ApiError> chat_tool_choice(const json& choice) {
  if (choice.is_string()) {
    const std::string c = choice.get<std::string>();
    if (c == "auto" || c == "none" || c == "required") return choice;
    return refuse("'tool_choice' must be auto, none, required or a function", "tool_choice");
  }
  if (choice.is_object() && string_member(choice, "type") == "function" &&
      choice.contains("name") && choice["name"].is_string())
    return json{{"type", "function"}, {"function", {{"name", choice["name"]}}}};
  return refuse("'tool_choice' must be auto, none, required or {type: function, name}",
                "tool_choice");
}

Result<json, ApiError> response_format(const json& text) {
  if (!text.is_object()) return refuse("'text' must be an object", "text");
  const auto format = text.find("format");
  if (format == text.end() || format->is_null()) return json();
  if (!format->is_object()) return refuse("'text.format' must be an object", "text.format");
  const std::string type = string_member(*format, "type");
  if (type == "text") return json();
  if (type == "json_object") return json{{"type", "json_object"}};
  if (type == "json_schema") {
    json schema = {{"name", string_member(*format, "name", "response")}};
    for (const char* key : {"schema", "strict", "description"})
      if (format->contains(key)) schema[key] = (*format)[key];
    return json{{"type", "json_schema"}, {"json_schema", std::move(schema)}};
  }
  return refuse("'text.format.type' must be text, json_object or json_schema", "text.format.type");
}

// The request's own fields, one by one, into `out`.
std::optional<ApiError> take_field(const std::string& key, const json& value,
                                   ResponsesRequest& out) {
  auto bad = [&](const std::string& what) {
    return ApiError{.message = "'" + key + "' must be " + what, .param = key};
  };
  if (key == "model" || key == "input") return std::nullopt;  // read by the caller
  if (kIgnored.count(key)) return std::nullopt;
  if (key == "background" && (value.is_null() || value == false)) return std::nullopt;
  if (kRefused.count(key))
    return ApiError{.message = "'" + key + "' is not supported by smacs", .param = key};
  if (key == "instructions") {
    if (!value.is_string() && !value.is_null()) return bad("a string");
    out.instructions = value;
  } else if (key == "stream" || key == "store" || key == "parallel_tool_calls") {
    if (!value.is_boolean() && !value.is_null()) return bad("a boolean");
    const bool on = value.is_boolean() && value.get<bool>();
    if (key == "stream") out.stream = on;
    if (key == "store") out.store = value.is_null() || on;
    if (key == "parallel_tool_calls" && !value.is_null()) out.chat[key] = value;
  } else if (key == "previous_response_id") {
    if (!value.is_string() && !value.is_null()) return bad("a string");
    if (value.is_string()) out.previous_response_id = value.get<std::string>();
  } else if (key == "tools") {
    if (!value.is_array() && !value.is_null()) return bad("an array");
    json tools = json::array();
    for (size_t i = 0; value.is_array() && i < value.size(); ++i) {
      auto tool = chat_tool(value[i], "tools[" + std::to_string(i) + "]");
      if (!tool.ok()) return tool.error();
      tools.push_back(std::move(*tool));
    }
    if (!tools.empty()) out.chat["tools"] = std::move(tools);
  } else if (key == "tool_choice") {
    if (value.is_null()) return std::nullopt;
    auto choice = chat_tool_choice(value);
    if (!choice.ok()) return choice.error();
    out.chat["tool_choice"] = std::move(*choice);
  } else if (key == "max_output_tokens") {
    if (value.is_null()) return std::nullopt;
    if (!value.is_number_integer() || value.get<int64_t>() < 1) return bad("an integer >= 1");
    out.chat["max_tokens"] = value;
  } else if (key == "temperature" || key == "top_p" || key == "smacs") {
    if (!value.is_null()) out.chat[key] = value;  // checked as the chat request's own
  } else if (key == "user") {
    if (!value.is_string()) return bad("a string");
    out.chat["user"] = value;
  } else if (key == "metadata") {
    if (!value.is_object() && !value.is_null()) return bad("an object of strings");
    if (value.is_object() && value.size() > 16) return bad("at most 16 pairs");
    if (value.is_object())
      for (const auto& [k, v] : value.items())
        if (!v.is_string()) return bad("an object of strings");
  } else if (key == "text") {
    if (value.is_null()) return std::nullopt;
    auto format = response_format(value);
    if (!format.ok()) return format.error();
    if (!format->is_null()) out.chat["response_format"] = std::move(*format);
  } else {
    return ApiError{.message = "unknown parameter '" + key + "'", .param = key};
  }
  if (key != "stream" && key != "store" && key != "user" && key != "smacs") out.echo[key] = value;
  return std::nullopt;
}

// A message item's content in chat form: text parts (input_text, output_text, refusal) and
// images; an assistant's or a system's as one string.
Result<json, ApiError> message_content(const json& content, bool as_text,
                                       const std::string& param) {
  if (content.is_string()) return content;
  if (!content.is_array())
    return refuse(param + ".content must be a string or an array of parts", param + ".content");
  json parts = json::array();
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string where = param + ".content[" + std::to_string(i) + "]";
    const std::string type = string_member(part, "type");
    if (type == "input_text" || type == "output_text" || type == "text" || type == "refusal") {
      const char* field = type == "refusal" ? "refusal" : "text";
      if (!part.contains(field) || !part[field].is_string())
        return refuse(where + "." + field + " must be a string", where + "." + field);
      if (!text.empty()) text += '\n';
      text += part[field].get<std::string>();
      parts.push_back({{"type", "text"}, {"text", part[field]}});
    } else if (type == "input_image" && !as_text && part.contains("image_url") &&
               part["image_url"].is_string()) {
      parts.push_back({{"type", "image_url"}, {"image_url", {{"url", part["image_url"]}}}});
    } else {
      return refuse(where + ": a part of type '" + type +
                        "' is not supported (text parts, and images given by image_url)",
                    where + ".type");
    }
  }
  if (as_text) return json(text);
  return parts;
}

// The raw text of the input and the instructions (valid JSON: the body was parsed), each taken
// only when written once with a plain key, as the parsed body then holds exactly it.
void keep_client_text(std::string_view text, const json& body, ResponsesRequest& out) {
  const auto members = top_level_members(text);
  if (!members) return;
  std::string_view input, instructions;
  int inputs = 0, instructions_seen = 0;
  for (const auto& [key, value] : *members) {
    if (key == "input") input = value, ++inputs;
    if (key == "instructions") instructions = value, ++instructions_seen;
  }
  if (inputs != 1 || instructions_seen > 1) return;
  const bool one_string = body["input"].is_string();
  const std::string user = "{\"role\":\"user\",\"content\":" + std::string(input) + "}";
  out.input_items_text =
      one_string ? "[{\"type\":\"message\"," + user.substr(1) + "]" : std::string(input);
  if (!one_string) return;
  out.messages_text = "[";
  if (out.instructions.is_string())
    out.messages_text.append("{\"role\":\"system\",\"content\":").append(instructions).append("},");
  out.messages_text.append(user).append("]");
}

}  // namespace

Result<json, ApiError> items_to_messages(const json& instructions, const json& items,
                                         size_t first_own) {
  json messages = json::array();
  if (instructions.is_string()) messages.push_back({{"role", "system"}, {"content", instructions}});
  bool calls_open = false;  // the last message is an assistant's that function calls may join
  for (size_t i = 0; i < items.size(); ++i) {
    const json& item = items[i];
    const std::string param =
        i >= first_own ? "input[" + std::to_string(i - first_own) + "]" : "previous_response_id";
    if (!item.is_object()) return refuse(param + " must be an object", param);
    const std::string type = string_member(item, "type", item.contains("role") ? "message" : "");
    if (type == "message") {
      const std::string role =
          item.contains("role") && item["role"].is_string() ? item["role"].get<std::string>() : "";
      if (role != "user" && role != "assistant" && role != "system" && role != "developer")
        return refuse(param + ".role must be user, assistant, system or developer",
                      param + ".role");
      auto content = message_content(item.value("content", json("")), role != "user", param);
      if (!content.ok()) return failure(content.error());
      messages.push_back(
          {{"role", role == "developer" ? "system" : role}, {"content", std::move(*content)}});
      calls_open = role == "assistant";
    } else if (type == "function_call") {
      for (const char* key : {"call_id", "name", "arguments"})
        if (!item.contains(key) || !item[key].is_string())
          return refuse(param + "." + key + " must be a string", param + "." + key);
      json call = {{"id", item["call_id"]},
                   {"type", "function"},
                   {"function", {{"name", item["name"]}, {"arguments", item["arguments"]}}}};
      if (!calls_open) messages.push_back({{"role", "assistant"}, {"content", nullptr}});
      messages.back()["tool_calls"].push_back(std::move(call));
      calls_open = true;
    } else if (type == "function_call_output") {
      if (!item.contains("call_id") || !item["call_id"].is_string())
        return refuse(param + ".call_id must be a string", param + ".call_id");
      auto output = message_content(item.value("output", json("")), true, param);
      if (!output.ok())
        return refuse(param + ".output must be a string or text parts", param + ".output");
      messages.push_back(
          {{"role", "tool"}, {"tool_call_id", item["call_id"]}, {"content", std::move(*output)}});
      calls_open = false;
    } else if (type == "reasoning") {
      continue;  // a reasoning model's notes: chat backends take none
    } else {
      return refuse(param + ".type '" + type +
                        "' is not supported (message, function_call, function_call_output)",
                    param + ".type");
    }
  }
  return messages;
}

Result<ResponsesRequest, ApiError> parse_responses_request(std::string_view text) {
  const auto parsed = parse_request_object(text);
  if (!parsed.ok()) return failure(parsed.error());
  const json& body = *parsed;
  const auto model = body.find("model");
  if (model == body.end() || !model->is_string() || model->get<std::string>().empty())
    return refuse("'model' is required and must be a non-empty string", "model");
  ResponsesRequest out;
  out.model = model->get<std::string>();
  out.chat = json::object();
  out.echo = json::object();
  for (const auto& [key, value] : body.items())
    if (auto e = take_field(key, value, out)) return failure(std::move(*e));
  const auto input = body.find("input");
  if (input == body.end() || (!input->is_string() && !input->is_array()))
    return refuse("'input' is required: a string or an array of items", "input");
  out.input_items =
      input->is_string()
          ? json::array({{{"type", "message"}, {"role", "user"}, {"content", *input}}})
          : *input;
  keep_client_text(text, body, out);
  return out;
}

json responses_chat_body(const ResponsesRequest& request, json messages) {
  json body = request.chat;
  body["model"] = request.model;
  body["messages"] = std::move(messages);
  if (request.stream) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};  // the usage response.completed reports
  }
  return body;
}

std::string responses_chat_text(const ResponsesRequest& request, const json& body) {
  return request.previous_response_id.empty() ? chat_body_text(body, request.messages_text) : "";
}

}  // namespace smacs
