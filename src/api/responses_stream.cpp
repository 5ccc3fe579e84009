// A chat reply re-spoken as a Response object and its typed events (api/responses_api.h).
//
// Events, in order: response.created, response.in_progress; per output item
// response.output_item.added, then for a message response.content_part.added, ...
// output_text.delta ..., output_text.done, content_part.done; for a function call
// function_call_arguments.delta ..., function_call_arguments.done; then output_item.done;
// last response.completed (or response.incomplete when the reply hit max_output_tokens).
#include <ctime>
#include <map>

#include "api/responses_api.h"

namespace smacs {

using nlohmann::json;

namespace {

class ResponsesStream : public ApiStream {
 public:
  ResponsesStream(const std::string& id, const std::string& model, const json& echo,
                  const json& extra, bool events)
      : id_(id), events_(events) {
    static const json kEmpty = {{"object", "response"},  // built once: a copy costs far less
                                {"status", "in_progress"},
                                {"error", nullptr},
                                {"incomplete_details", nullptr},
                                {"instructions", nullptr},
                                {"max_output_tokens", nullptr},
                                {"output", json::array()},
                                {"parallel_tool_calls", true},
                                {"previous_response_id", nullptr},
                                {"temperature", nullptr},
                                {"tool_choice", "auto"},
                                {"tools", json::array()},
                                {"top_p", nullptr},
                                {"metadata", json::object()},
                                {"text", {{"format", {{"type", "text"}}}}},
                                {"usage", nullptr}};
    response_ = kEmpty;
    response_["id"] = id;
    response_["created_at"] = static_cast<int64_t>(std::time(nullptr));
    response_["model"] = model;
    for (const auto& [k, v] : echo.items())
      if (!v.is_null()) response_[k] = v;
    if (extra.is_object())
      for (const auto& [k, v] : extra.items()) response_[k] = v;
  }

  std::string chunk(const json& chunk) override {
    std::string out = begin();
    return out + read_chunk(
                     chunk, usage_, finish_, [&](const std::string& t) { return text_delta(t); },
                     [&](const json& call) { return call_delta(call); });
  }

  std::string end() override {
    std::string out = begin();
    out += close_item();
    const TokenUsage u = TokenUsage::of(usage_);
    static const json kUsage = {{"input_tokens", 0},
                                {"input_tokens_details", {{"cached_tokens", 0}}},
                                {"output_tokens", 0},
                                {"output_tokens_details", {{"reasoning_tokens", 0}}},
                                {"total_tokens", 0}};
    json& usage = response_["usage"] = kUsage;
    usage["input_tokens"] = u.prompt;
    usage["output_tokens"] = u.completion;
    usage["total_tokens"] = u.prompt + u.completion;
    const bool cut = finish_ == "length";
    response_["status"] = cut ? "incomplete" : "completed";
    if (cut) response_["incomplete_details"] = {{"reason", "max_output_tokens"}};
    return out + event(cut ? "response.incomplete" : "response.completed", [&] {
             return json({{"response", response_}});
           });
  }

  std::string error(const ApiError& e) override {
    std::string out = begin();
    response_["status"] = "failed";
    response_["error"] = {{"code", e.code.empty() ? e.type : e.code}, {"message", e.message}};
    out += event("error", [&] {
      return json({{"code", e.code.empty() ? json() : json(e.code)},
                   {"message", e.message},
                   {"param", e.param.empty() ? json() : json(e.param)}});
    });
    return out + event("response.failed", [&] { return json({{"response", response_}}); });
  }

  const json& object() const override { return response_; }

 private:
  // One event; its data is built only when events are wanted (a whole reply needs none).
  template <class Data>
  std::string event(const char* type, Data&& make) {
    if (!events_) return {};
    json data = make();
    data["type"] = type;
    data["sequence_number"] = sequence_++;
    return sse_event(type, data);
  }

  std::string begin() {
    if (begun_) return {};
    begun_ = true;
    if (!events_) return {};
    return event("response.created",
                 [&] {
                   return json({{"response", response_}});
                 }) +
           event("response.in_progress", [&] {
             return json({{"response", response_}});
           });
  }

  json& item() { return response_["output"][open_]; }
  std::string item_id() const { return response_["output"][open_]["id"]; }
  std::string item_id_for(const char* prefix) const {
    return prefix + id_.substr(id_.find('_') + 1) + "_" +
           std::to_string(response_["output"].size());
  }

  std::string open_item(json fresh) {
    std::string out = close_item();
    response_["output"].push_back(std::move(fresh));
    open_ = static_cast<int>(response_["output"].size()) - 1;
    out += event("response.output_item.added", [&] {
      json added = item();  // as it starts: empty
      if (added["type"] == "message") added["content"] = json::array();
      if (added["type"] == "function_call") added["arguments"] = "";
      return json({{"output_index", open_}, {"item", std::move(added)}});
    });
    if (item()["type"] == "message")
      out += event("response.content_part.added", [&] {
        return json(
            {{"item_id", item_id()},
             {"output_index", open_},
             {"content_index", 0},
             {"part", {{"type", "output_text"}, {"text", ""}, {"annotations", json::array()}}}});
      });
    return out;
  }

  std::string text_delta(const std::string& text) {
    std::string out;
    if (open_ < 0 || item()["type"] != "message") {
      static const json kMessage = {
          {"type", "message"},  // copied: far fewer allocations
          {"status", "in_progress"},
          {"role", "assistant"},
          {"content",
           json::array({{{"type", "output_text"}, {"text", ""}, {"annotations", json::array()}}})}};
      json message = kMessage;
      message["id"] = item_id_for("msg_");
      out += open_item(std::move(message));
    }
    item()["content"][0]["text"].get_ref<std::string&>() += text;
    return out + event("response.output_text.delta", [&] {
             return json({{"item_id", item_id()},
                          {"output_index", open_},
                          {"content_index", 0},
                          {"delta", text},
                          {"logprobs", json::array()}});
           });
  }

  // A chat tool-call delta: a new index opens a function_call item, arguments stream into it.
  std::string call_delta(const json& call) {
    const auto piece = read_tool_call(call, calls_, open_, "call_");
    if (!piece) return {};
    std::string out;
    if (piece->opens) {
      out += open_item({{"id", item_id_for("fc_")},
                        {"type", "function_call"},
                        {"status", "in_progress"},
                        {"call_id", piece->id},
                        {"name", piece->name},
                        {"arguments", ""}});
      calls_.emplace(piece->index, open_);
    }
    if (piece->arguments.empty()) return out;
    item()["arguments"].get_ref<std::string&>() += piece->arguments;
    return out + event("response.function_call_arguments.delta", [&] {
             return json(
                 {{"item_id", item_id()}, {"output_index", open_}, {"delta", piece->arguments}});
           });
  }

  std::string close_item() {
    if (open_ < 0) return {};
    std::string out;
    json& it = item();
    it["status"] = "completed";
    if (it["type"] == "message") {
      const json& part = it["content"][0];
      out += event("response.output_text.done", [&] {
        return json({{"item_id", it["id"]},
                     {"output_index", open_},
                     {"content_index", 0},
                     {"text", part["text"]},
                     {"logprobs", json::array()}});
      });
      out += event("response.content_part.done", [&] {
        return json(
            {{"item_id", it["id"]}, {"output_index", open_}, {"content_index", 0}, {"part", part}});
      });
    } else {
      out += event("response.function_call_arguments.done", [&] {
        return json(
            {{"item_id", it["id"]}, {"output_index", open_}, {"arguments", it["arguments"]}});
      });
    }
    out += event("response.output_item.done", [&] {
      return json({{"output_index", open_}, {"item", it}});
    });
    open_ = -1;
    return out;
  }

  std::string id_;
  bool events_;
  json response_;
  json usage_;
  std::string finish_;
  int open_ = -1;                 // the output item being written
  std::map<int64_t, int> calls_;  // chat tool-call index -> output index
  int64_t sequence_ = 0;
  bool begun_ = false;
};

}  // namespace

std::unique_ptr<ApiStream> make_responses_stream(const std::string& id, const std::string& model,
                                                 const json& echo, const json& extra, bool events) {
  return std::make_unique<ResponsesStream>(id, model, echo, extra, events);
}

}  // namespace smacs
