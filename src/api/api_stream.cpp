#include "api/api_stream.h"

#include <algorithm>

namespace smacs {

using nlohmann::json;

std::string feed_completion(ApiStream& stream, json completion) {
  json delta = json::object(), finish, usage;
  if (completion.is_object()) {  // taken apart, not copied: a reply may be large
    const auto c = completion.find("choices");
    if (c != completion.end() && c->is_array() && !c->empty() && (*c)[0].is_object()) {
      json& choice = (*c)[0];
      if (auto m = choice.find("message"); m != choice.end() && m->is_object())
        delta = std::move(*m);
      if (auto f = choice.find("finish_reason"); f != choice.end()) finish = std::move(*f);
    }
    if (auto u = completion.find("usage"); u != completion.end()) usage = std::move(*u);
  }
  if (auto calls = delta.find("tool_calls"); calls != delta.end() && calls->is_array())
    for (size_t i = 0; i < calls->size(); ++i)
      if ((*calls)[i].is_object()) (*calls)[i]["index"] = i;
  json entry = json::object();
  entry["index"] = 0;
  entry["delta"] = std::move(delta);
  entry["finish_reason"] = std::move(finish);
  json chunk = json::object();
  chunk["choices"] = json::array();
  chunk["choices"].push_back(std::move(entry));
  if (!usage.is_null()) chunk["usage"] = std::move(usage);
  std::string events = stream.chunk(chunk);
  return events + stream.end();
}

bool SseChunkReader::feed(std::string_view piece,
                          const std::function<void(const json&)>& on_chunk) {
  if (!error_.empty()) return false;
  for (const char c : piece)
    if (c != '\r') buffer_ += c;  // JSON escapes CR inside strings: only line ends have one
  size_t start = 0;
  for (size_t end; (end = buffer_.find("\n\n", std::max(start, scanned_))) != std::string::npos;
       start = end + 2) {
    scanned_ = 0;
    if (!take_event(std::string_view(buffer_).substr(start, end - start), on_chunk)) return false;
  }
  buffer_.erase(0, start);
  scanned_ = buffer_.empty() ? 0 : buffer_.size() - 1;  // a long event is not scanned twice
  if (buffer_.size() > max_event_bytes_) {
    error_ = "the backend sent an event larger than " + std::to_string(max_event_bytes_) + " bytes";
    return false;
  }
  return true;
}

bool SseChunkReader::take_event(std::string_view event,
                                const std::function<void(const json&)>& on_chunk) {
  std::string data;
  while (!event.empty()) {
    const size_t eol = event.find('\n');
    std::string_view line = event.substr(0, eol);
    event = eol == std::string_view::npos ? std::string_view() : event.substr(eol + 1);
    if (line.rfind("data:", 0) != 0) continue;  // comments, event names, ids
    line.remove_prefix(5);
    if (!line.empty() && line[0] == ' ') line.remove_prefix(1);
    if (!data.empty()) data += '\n';
    data += line;
  }
  if (data.empty()) return true;
  if (data == "[DONE]") {
    done_ = true;
    return true;
  }
  const json chunk = parse_json_body(data);
  if (chunk.is_discarded() || !chunk.is_object()) {
    error_ = "the backend sent an event that is not a JSON object";
    return false;
  }
  if (const auto e = chunk.find("error"); e != chunk.end() && !e->is_null()) {
    const auto message = e->is_object() ? e->find("message") : e->end();
    error_ = message != e->end() && message->is_string() ? message->get<std::string>()
                                                         : "the backend's stream ended in an error";
    return false;
  }
  on_chunk(chunk);
  return true;
}

std::string read_chunk(const json& chunk, json& usage, std::string& finish,
                       const std::function<std::string(const std::string&)>& on_text,
                       const std::function<std::string(const json&)>& on_call) {
  if (const auto u = chunk.find("usage"); u != chunk.end() && u->is_object()) usage = *u;
  const auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array() || choices->empty() ||
      !(*choices)[0].is_object())
    return {};
  const json& choice = (*choices)[0];
  if (const auto f = choice.find("finish_reason"); f != choice.end() && f->is_string())
    finish = f->get<std::string>();
  const auto delta = choice.find("delta");
  if (delta == choice.end() || !delta->is_object()) return {};
  std::string out;
  if (const auto c = delta->find("content"); c != delta->end() && c->is_string() && !c->empty())
    out += on_text(c->get_ref<const std::string&>());
  if (const auto calls = delta->find("tool_calls"); calls != delta->end() && calls->is_array())
    for (const auto& call : *calls)
      if (call.is_object()) out += on_call(call);
  return out;
}

std::optional<ToolCallPiece> read_tool_call(const json& call, const std::map<int64_t, int>& calls,
                                            int open, const std::string& id_prefix) {
  ToolCallPiece piece;
  piece.index = int_member(call, "index", 0);
  const auto function = call.find("function");
  const bool has_function = function != call.end() && function->is_object();
  if (const auto known = calls.find(piece.index); known == calls.end()) {
    piece.opens = true;
    piece.id = string_member(call, "id", id_prefix + std::to_string(piece.index));
    if (has_function) piece.name = string_member(*function, "name");
  } else if (known->second != open) {
    return std::nullopt;
  }
  if (has_function)
    if (const auto args = function->find("arguments"); args != function->end() && args->is_string())
      piece.arguments = args->get<std::string>();
  return piece;
}

std::string sse_event(std::string_view name, const json& data) {
  std::string out = "event: ";
  out.append(name).append("\ndata: ");
  out += data.dump(-1, ' ', false, json::error_handler_t::replace);
  out += "\n\n";
  return out;
}

TokenUsage TokenUsage::of(const json& usage) {
  TokenUsage u;
  if (!usage.is_object()) return u;
  if (const auto p = usage.find("prompt_tokens"); p != usage.end() && p->is_number_integer())
    u.prompt = p->get<int64_t>();
  if (const auto c = usage.find("completion_tokens"); c != usage.end() && c->is_number_integer())
    u.completion = c->get<int64_t>();
  return u;
}

}  // namespace smacs
