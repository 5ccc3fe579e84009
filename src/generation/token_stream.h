// A generation's text sent as a chat completion stream while it grows (the in-process llama
// backend's streams): never a part that may yet turn into a stop string (held back until it
// cannot), never half a UTF-8 character. The first chunk carries the role, the last one the
// finish reason; then the usage chunk when the request asked for it, then [DONE].
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace smacs {

// Each token's log-probability entry (OpenAI's logprobs.content[i]) with where its text starts.
using TokenLogprobs = std::vector<std::pair<size_t, nlohmann::json>>;

// How many bytes at the end of `text` may still change meaning: the longest end that begins a
// stop string, or a UTF-8 character not complete yet.
size_t held_back(std::string_view text, const std::vector<std::string>& stop);

class TokenStream {
 public:
  // Sends one event; false when it could not go (the client stopped reading, or time ran out).
  using Put = std::function<bool(std::string event)>;
  // `logprobs`: the chunks carry their tokens' entries (the request asked for logprobs).
  TokenStream(std::string id, std::string model, std::vector<std::string> stop, bool logprobs,
              Put put);

  // The text generated so far: sends what can no longer change. False: stop generating.
  bool grow(const std::string& text, const TokenLogprobs& logprobs);
  // The whole text (already cut at a stop string): the rest of it, the finish reason, the
  // usage chunk (a null `usage`: none) and [DONE].
  bool end(const std::string& text, const TokenLogprobs& logprobs, const std::string& finish,
           const nlohmann::json& usage);

 private:
  bool send_up_to(const std::string& text, size_t end, const TokenLogprobs& logprobs);
  bool send(nlohmann::json delta, const nlohmann::json& finish, nlohmann::json logprobs);

  const std::string id_, model_;
  const std::vector<std::string> stop_;
  const bool logprobs_;
  const Put put_;
  const int64_t created_;
  size_t sent_ = 0;          // bytes of the text sent
  size_t entries_sent_ = 0;  // logprob entries sent
  bool began_ = false;       // the role's chunk went
};

}  // namespace smacs
