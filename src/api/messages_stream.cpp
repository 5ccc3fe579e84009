// A chat reply re-spoken as an Anthropic Message object and its events (api/messages_api.h):
// message_start; per content block content_block_start, content_block_delta (text_delta or
// input_json_delta) ..., content_block_stop; then message_delta (stop_reason, usage) and
// message_stop.
#include <map>

#include "api/messages_api.h"

namespace smacs {

using nlohmann::json;

namespace {

const char* stop_reason(const std::string& finish) {
  if (finish == "length") return "max_tokens";
  if (finish == "tool_calls" || finish == "function_call") return "tool_use";
  return "end_turn";
}

class MessagesStream : public ApiStream {
 public:
  MessagesStream(const std::string& id, const std::string& model, const json& extra, bool events)
      : events_(events) {
    message_ = {{"id", id},
                {"type", "message"},
                {"role", "assistant"},
                {"model", model},
                {"content", json::array()},
                {"stop_reason", nullptr},
                {"stop_sequence", nullptr},
                {"usage", {{"input_tokens", 0}, {"output_tokens", 0}}}};
    if (extra.is_object())
      for (const auto& [k, v] : extra.items()) message_[k] = v;
  }

  std::string chunk(const json& chunk) override {
    std::string out = begin();
    return out + read_chunk(
                     chunk, usage_, finish_, [&](const std::string& t) { return text_delta(t); },
                     [&](const json& call) { return call_delta(call); });
  }

  std::string end() override {
    std::string out = begin() + close_block();
    const TokenUsage u = TokenUsage::of(usage_);
    message_["usage"] = {{"input_tokens", u.prompt}, {"output_tokens", u.completion}};
    message_["stop_reason"] = stop_reason(finish_);
    out += event("message_delta", [&] {
      return json(
          {{"delta", {{"stop_reason", message_["stop_reason"]}, {"stop_sequence", nullptr}}},
           {"usage", message_["usage"]}});
    });
    return out + event("message_stop", [&] { return json(json::object()); });
  }

  std::string error(const ApiError& e) override {
    return begin() + (events_ ? sse_event("error", anthropic_error_body(e)) : std::string());
  }

  const json& object() const override { return message_; }

 private:
  // One event; its data is built only when events are wanted (a whole reply needs none).
  template <class Data>
  std::string event(const char* type, Data&& make) {
    if (!events_) return {};
    json data = make();
    data["type"] = type;
    return sse_event(type, data);
  }

  std::string begin() {
    if (begun_) return {};
    begun_ = true;
    return event("message_start", [&] { return json({{"message", message_}}); });
  }

  json& block() { return message_["content"][open_]; }

  std::string open_block(json block) {
    std::string out = close_block();
    message_["content"].push_back(block);
    open_ = static_cast<int>(message_["content"].size()) - 1;
    if (block["type"] == "tool_use") block["input"] = json::object();
    return out + event("content_block_start", [&] {
             return json({{"index", open_}, {"content_block", block}});
           });
  }

  std::string text_delta(const std::string& text) {
    std::string out;
    if (open_ < 0 || block()["type"] != "text") out += open_block({{"type", "text"}, {"text", ""}});
    block()["text"].get_ref<std::string&>() += text;
    return out + event("content_block_delta", [&] {
             return json({{"index", open_}, {"delta", {{"type", "text_delta"}, {"text", text}}}});
           });
  }

  std::string call_delta(const json& call) {
    const auto piece = read_tool_call(call, calls_, open_, "toolu_");
    if (!piece) return {};
    std::string out;
    if (piece->opens) {
      out += open_block(
          {{"type", "tool_use"}, {"id", piece->id}, {"name", piece->name}, {"input", ""}});
      calls_.emplace(piece->index, open_);
    }
    if (piece->arguments.empty()) return out;
    block()["input"].get_ref<std::string&>() += piece->arguments;
    return out + event("content_block_delta", [&] {
             return json(
                 {{"index", open_},
                  {"delta", {{"type", "input_json_delta"}, {"partial_json", piece->arguments}}}});
           });
  }

  // Closes the open block; a tool call's arguments become its `input` object.
  std::string close_block() {
    if (open_ < 0) return {};
    json& b = block();
    if (b["type"] == "tool_use") {
      const json input = parse_json_body(b["input"].get<std::string>());
      b["input"] = input.is_object() ? input : json::object();
    }
    const int index = open_;
    open_ = -1;
    return event("content_block_stop", [&] { return json({{"index", index}}); });
  }

  bool events_;
  json message_;
  json usage_;
  std::string finish_;
  int open_ = -1;                 // the content block being written
  std::map<int64_t, int> calls_;  // chat tool-call index -> content block
  bool begun_ = false;
};

}  // namespace

std::unique_ptr<ApiStream> make_messages_stream(const std::string& id, const std::string& model,
                                                const json& extra, bool events) {
  return std::make_unique<MessagesStream>(id, model, extra, events);
}

}  // namespace smacs
