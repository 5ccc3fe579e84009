// Other APIs in front of the chat-completions core: a backend's reply, whole or as the
// chat.completion.chunk objects of its stream, re-spoken as the Responses API's or the Messages
// API's object and typed events. Every backend stays a chat-completions endpoint; only the
// door a client came in by changes what it reads.
#pragma once
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "api/openai_api.h"

namespace smacs {

// One reply re-spoken. Feed it chunks in order, then end(); each call returns the Server-Sent
// Events to send for it ("" when there is nothing to send yet). object() is the whole reply in
// that API's shape at any time (complete once end() was called).
class ApiStream {
 public:
  virtual ~ApiStream() = default;
  virtual std::string chunk(const nlohmann::json& chunk) = 0;  // a chat.completion.chunk
  virtual std::string end() = 0;
  // The stream ends in an error (what the API's own clients read as one).
  virtual std::string error(const ApiError& e) = 0;
  virtual const nlohmann::json& object() const = 0;
};

// A whole chat.completion fed as the one chunk it would be, then end(): the events a stream
// of it would be (the object is then complete).
std::string feed_completion(ApiStream& stream, nlohmann::json completion);

// Reads a chat-completions event stream as it arrives in pieces of any size: hands each
// `data:` chunk to `on_chunk` and notes `[DONE]`. Bounded: an event larger than max_event_bytes
// is an error.
class SseChunkReader {
 public:
  explicit SseChunkReader(size_t max_event_bytes = 8 << 20) : max_event_bytes_(max_event_bytes) {}
  // False with `error` set when the stream is malformed (an event that is not JSON, too big).
  bool feed(std::string_view piece, const std::function<void(const nlohmann::json&)>& on_chunk);
  bool done() const { return done_; }
  const std::string& error() const { return error_; }

 private:
  bool take_event(std::string_view event,
                  const std::function<void(const nlohmann::json&)>& on_chunk);
  std::string buffer_;
  size_t scanned_ = 0;  // buffer_ holds no event end before this
  size_t max_event_bytes_;
  bool done_ = false;
  std::string error_;
};

// Reads one chat.completion.chunk for a translator: its usage (an object) into `usage`, its
// finish reason into `finish`, its text and each of its tool-call pieces to the callbacks, whose
// events it returns joined.
std::string read_chunk(const nlohmann::json& chunk, nlohmann::json& usage, std::string& finish,
                       const std::function<std::string(const std::string& text)>& on_text,
                       const std::function<std::string(const nlohmann::json& call)>& on_call);

// One tool-call piece of a chat chunk, as a translator writes it: a call's first piece opens
// an output of its own (a content block, an output item), later pieces add to its arguments.
struct ToolCallPiece {
  int64_t index = 0;      // the call's index in the chat stream
  bool opens = false;     // its first piece: open an output for it (id and name below)
  std::string id, name;   // when it opens; a call without an id gets id_prefix + its index
  std::string arguments;  // what this piece adds to the call's arguments ("": nothing)
};
// Reads `call` against `calls` (call index -> the translator's output for it) and `open` (the
// output being written, -1 for none); nullopt for a late piece of a call whose output is
// closed: chat streams do not interleave calls.
std::optional<ToolCallPiece> read_tool_call(const nlohmann::json& call,
                                            const std::map<int64_t, int>& calls, int open,
                                            const std::string& id_prefix);

// "event: NAME\ndata: JSON\n\n"
std::string sse_event(std::string_view name, const nlohmann::json& data);

// The usage numbers of a chat `usage` object (0 when absent).
struct TokenUsage {
  int64_t prompt = 0, completion = 0;
  static TokenUsage of(const nlohmann::json& usage);
};

}  // namespace smacs
