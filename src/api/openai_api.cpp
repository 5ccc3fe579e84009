#include "api/openai_api.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "api/json_members.h"
#include "core/utf8.h"

namespace smacs {

using nlohmann::json;

json error_body(const ApiError& e) {
  return {{"error",
           {{"message", e.message},
            {"type", e.type},
            {"param", e.param.empty() ? json() : json(e.param)},
            {"code", e.code.empty() ? json() : json(e.code)}}}};
}

size_t json_nesting(std::string_view text, size_t stop_at) {
  size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest >= stop_at) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

json parse_json_body(std::string_view text) {
  if (json_nesting(text) > kMaxJsonDepth) return json(json::value_t::discarded);
  return json::parse(text, nullptr, /*allow_exceptions=*/false);
}

namespace {

// The members of `body` but `skip`, serialised as `"key":value` pairs joined by commas, after
// `out` (a comma first when `out` already holds something).
std::string append_members(std::string out, const json& body,
                           std::initializer_list<std::string_view> skip) {
  for (const auto& [key, value] : body.items()) {
    if (std::find(skip.begin(), skip.end(), key) != skip.end()) continue;
    if (!out.empty()) out += ',';
    out += json(key).dump();
    out += ':';
    out += value.dump();
  }
  return out;
}

}  // namespace

std::string fields_for_upstream(const json& body) {
  return append_members("", body, {"model", "stream", "stream_options"});
}

std::string fields_for_upstream(const json& body, std::string_view text) {
  const auto members = top_level_members(text);
  if (!members) return fields_for_upstream(body);
  std::string out;
  size_t kept = 0;
  for (const auto& [key, value] : *members) {
    if (key == "model" || key == "stream" || key == "stream_options" || key == "smacs") continue;
    // A key the parsed body lacks, or one written twice: the text is not what was validated.
    if (!body.contains(key)) return fields_for_upstream(body);
    ++kept;
    if (!out.empty()) out += ',';
    out.append("\"").append(key).append("\":").append(value);
  }
  size_t expected = body.size();
  for (const char* own : {"model", "stream", "stream_options"}) expected -= body.contains(own);
  return kept == expected ? out : fields_for_upstream(body);
}

std::string chat_body_text(const json& body, std::string_view messages_text) {
  if (messages_text.empty()) return "";
  return append_members("{\"messages\":" + std::string(messages_text), body, {"messages"}) + "}";
}

std::string upstream_body(const std::string& model, bool stream, std::string_view fields) {
  std::string out =
      "{\"model\":" + json(model).dump() + ",\"stream\":" + (stream ? "true" : "false");
  if (!fields.empty()) {
    out += ',';
    out += fields;
  }
  out += '}';
  return out;
}

std::optional<std::string> content_text(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  if (content.is_null()) return std::string();
  if (!content.is_array()) return std::nullopt;
  std::string text;
  for (const auto& part : content) {
    if (!part.is_object()) return std::nullopt;
    const auto t = part.find("text");
    if (t != part.end()) {
      if (!t->is_string()) return std::nullopt;
      if (!text.empty()) text += '\n';
      text += t->get_ref<const std::string&>();
    }
  }
  return text;
}

namespace {

Failure<ApiError> fail(std::string message, std::string param = "") {
  ApiError e;
  e.message = std::move(message);
  e.param = std::move(param);
  return failure(std::move(e));
}

// OpenAI's ranges for the sampling fields: (message, param) of the first one outside them.
std::optional<std::pair<std::string, std::string>> out_of_range(const json& body) {
  struct Range {
    const char* key;
    double low, high;
    bool integer;
  };
  static const Range ranges[] = {{"temperature", 0, 2, false},
                                 {"top_p", 0, 1, false},
                                 {"max_tokens", 1, 1e9, true},
                                 {"max_completion_tokens", 1, 1e9, true},
                                 {"n", 1, 128, true},
                                 {"presence_penalty", -2, 2, false},
                                 {"frequency_penalty", -2, 2, false},
                                 {"top_logprobs", 0, 20, true},
                                 {"seed", -9.3e18, 9.3e18, true}};
  for (const auto& r : ranges) {
    const auto it = body.find(r.key);
    if (it == body.end() || it->is_null()) continue;
    const std::string key(r.key);
    if (!it->is_number()) return std::pair{"'" + key + "' must be a number", key};
    const double v = it->get<double>();
    if (r.integer && v != std::floor(v)) return std::pair{"'" + key + "' must be an integer", key};
    if (!(v >= r.low && v <= r.high)) {
      char msg[160];
      std::snprintf(msg, sizeof msg, "'%s' must be within %g..%g", r.key, r.low, r.high);
      return std::pair{std::string(msg), key};
    }
  }
  return std::nullopt;
}

}  // namespace

Result<json, ApiError> parse_request_object(std::string_view text) {
  if (json_nesting(text) > kMaxJsonDepth)
    return fail("the request body nests JSON deeper than " + std::to_string(kMaxJsonDepth) +
                " levels");
  json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return fail("the request body is not valid JSON");
  if (!body.is_object()) return fail("the request body must be a JSON object");
  return body;
}

Result<ChatRequest, ApiError> parse_chat_request(std::string_view text) {
  auto body = parse_request_object(text);
  if (!body.ok()) return failure(body.error());
  return chat_request_from_json(std::move(*body), text);
}

Result<ChatRequest, ApiError> chat_request_from_json(json body, std::string_view text) {
  if (!body.is_object()) return fail("the request body must be a JSON object");
  const auto model = body.find("model");
  if (model == body.end() || !model->is_string() || model->get<std::string>().empty())
    return fail("'model' is required and must be a non-empty string", "model");
  const auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array() || messages->empty())
    return fail("'messages' is required and must be a non-empty array", "messages");
  ChatRequest req;
  bool has_user = false;
  for (size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    const std::string param = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return fail(param + " must be an object", param);
    const auto role = m.find("role");
    if (role == m.end() || !role->is_string())
      return fail(param + ".role must be a string", param + ".role");
    const std::string r = role->get<std::string>();
    if (r != "system" && r != "user" && r != "assistant" && r != "tool" && r != "developer")
      return fail(
          param + ".role '" + r + "' is not one of system, developer, user, assistant, tool",
          param + ".role");
    const auto content = m.find("content");
    const auto text = content == m.end() ? std::optional<std::string>("") : content_text(*content);
    if (!text)
      return fail(param + ".content must be a string or an array of text parts",
                  param + ".content");
    if (r == "user") {
      has_user = true;
      req.retrieval_key = *text;
    }
  }
  if (!has_user) return fail("'messages' must contain at least one user message", "messages");
  const auto stream = body.find("stream");
  if (stream != body.end() && !stream->is_null() && !stream->is_boolean())
    return fail("'stream' must be a boolean", "stream");
  if (auto bad = out_of_range(body)) return fail(bad->first, bad->second);
  if (const auto stop = body.find("stop"); stop != body.end() && !stop->is_null()) {
    const bool strings =
        stop->is_array() && stop->size() <= 4 &&
        std::all_of(stop->begin(), stop->end(), [](const json& s) { return s.is_string(); });
    if (!stop->is_string() && !strings)
      return fail("'stop' must be a string or an array of at most 4 strings", "stop");
  }
  const auto tools = body.find("tools");
  if (tools != body.end() && !tools->is_null() && !tools->is_array())
    return fail("'tools' must be an array", "tools");
  const auto options = body.find("stream_options");
  if (options != body.end() && !options->is_null()) {
    if (!options->is_object()) return fail("'stream_options' must be an object", "stream_options");
    const auto usage = options->find("include_usage");
    if (usage != options->end() && !usage->is_boolean())
      return fail("'stream_options.include_usage' must be a boolean",
                  "stream_options.include_usage");
    req.include_usage = usage != options->end() && usage->get<bool>();
  }
  if (const auto ext = body.find("smacs"); ext != body.end()) {
    if (!ext->is_object()) return fail("'smacs' must be an object", "smacs");
    for (const auto& [key, value] : ext->items()) {
      if (key != "max_cost_usd")
        return fail("'smacs." + key + "' is not known (known: max_cost_usd)", "smacs." + key);
      if (!value.is_number() || value.get<double>() < 0)
        return fail("'smacs.max_cost_usd' must be a number >= 0", "smacs.max_cost_usd");
      req.max_cost_usd = value.get<double>();
    }
    body.erase("smacs");
  }
  req.model = model->get<std::string>();
  // SMACS chooses one answer; a pool model's pass-through takes any n its backend does.
  if (const auto n = body.find("n");
      req.model == "smacs" && n != body.end() && n->is_number() && n->get<double>() != 1)
    return fail("model 'smacs' answers with one choice: n must be 1 (a pool model takes any n)",
                "n");
  req.stream = stream != body.end() && stream->is_boolean() && stream->get<bool>();
  req.upstream_fields = text.empty() ? fields_for_upstream(body) : fields_for_upstream(body, text);
  req.body = std::move(body);
  return req;
}

std::string string_member(const json& j, const char* key, std::string fallback) {
  if (!j.is_object()) return fallback;
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

int64_t int_member(const json& j, const char* key, int64_t fallback) {
  if (!j.is_object()) return fallback;
  const auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
}

bool is_true(const json& j, const char* key) {
  if (!j.is_object()) return false;
  const auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

json completion_body(const std::string& id, const std::string& model, const std::string& content,
                     const json& usage) {
  return {
      {"id", id},
      {"object", "chat.completion"},
      {"created", static_cast<int64_t>(std::time(nullptr))},
      {"model", model},
      {"choices", json::array({{{"index", 0},
                                {"message", {{"role", "assistant"}, {"content", content}}},
                                {"finish_reason", "stop"}}})},
      {"usage", usage.is_object()
                    ? usage
                    : json{{"prompt_tokens", 0}, {"completion_tokens", 0}, {"total_tokens", 0}}}};
}

json completion_chunk(const std::string& id, const std::string& model, int64_t created,
                      const json& delta, const json& finish_reason) {
  return json{{"id", id},
              {"object", "chat.completion.chunk"},
              {"created", created},
              {"model", model},
              {"choices",
               json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", finish_reason}}})}};
}

std::string chunk_event(const json& chunk) {
  return "data: " + chunk.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

std::vector<std::string> completion_sse(const std::string& id, const std::string& model,
                                        const json& message, const json& finish_reason,
                                        const json& extra, const json& usage) {
  const auto created = static_cast<int64_t>(std::time(nullptr));
  auto chunk = [&](const json& delta, const json& finish) {
    return completion_chunk(id, model, created, delta, finish);
  };
  auto event = chunk_event;
  std::vector<std::string> events;
  json first = chunk({{"role", "assistant"}, {"content", ""}}, nullptr);
  if (extra.is_object())
    for (const auto& [k, v] : extra.items()) first[k] = v;
  events.push_back(event(first));
  // The answer is chosen before streaming starts; send it in pieces of about 64 bytes,
  // cut on UTF-8 character boundaries.
  const auto text = message.find("content");
  const std::string content =
      text != message.end() && text->is_string() ? text->get<std::string>() : "";
  for (size_t i = 0; i < content.size();) {
    const size_t end = utf8_boundary_from(content, i + 64);
    events.push_back(event(chunk({{"content", content.substr(i, end - i)}}, nullptr)));
    i = end;
  }
  if (const auto calls = message.find("tool_calls"); calls != message.end() && calls->is_array()) {
    json indexed = json::array();
    for (size_t i = 0; i < calls->size(); ++i) {
      json c = (*calls)[i];
      c["index"] = i;
      indexed.push_back(std::move(c));
    }
    events.push_back(event(chunk({{"tool_calls", indexed}}, nullptr)));
  }
  events.push_back(
      event(chunk(json::object(), finish_reason.is_string() ? finish_reason : json("stop"))));
  if (usage.is_object()) {  // stream_options.include_usage: a last chunk with no choices
    json last = chunk(json::object(), nullptr);
    last["choices"] = json::array();
    last["usage"] = usage;
    events.push_back(event(last));
  }
  events.push_back("data: [DONE]\n\n");
  return events;
}

}  // namespace smacs
