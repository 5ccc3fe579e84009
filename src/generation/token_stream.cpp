// A generation's text as a chat completion stream (generation/token_stream.h).
#include "generation/token_stream.h"

#include <algorithm>
#include <ctime>

#include "api/openai_api.h"
#include "core/utf8.h"

namespace smacs {

using nlohmann::json;

size_t held_back(std::string_view text, const std::vector<std::string>& stop) {
  // Half a character is held back (a broken byte is sent as it is, replaced when written as
  // JSON).
  size_t hold = incomplete_utf8_tail(text);
  for (const auto& s : stop)
    for (size_t n = std::min(s.empty() ? 0 : s.size() - 1, text.size()); n > hold; --n)
      if (text.ends_with(std::string_view(s).substr(0, n))) {
        hold = n;
        break;
      }
  return hold;
}

TokenStream::TokenStream(std::string id, std::string model, std::vector<std::string> stop,
                         bool logprobs, Put put)
    : id_(std::move(id)),
      model_(std::move(model)),
      stop_(std::move(stop)),
      logprobs_(logprobs),
      put_(std::move(put)),
      created_(static_cast<int64_t>(std::time(nullptr))) {}

bool TokenStream::grow(const std::string& text, const TokenLogprobs& logprobs) {
  return send_up_to(text, text.size() - held_back(text, stop_), logprobs);
}

bool TokenStream::end(const std::string& text, const TokenLogprobs& logprobs,
                      const std::string& finish, const json& usage) {
  if (!send_up_to(text, text.size(), logprobs) || !send(json::object(), finish, nullptr))
    return false;
  if (usage.is_object()) {  // stream_options.include_usage: a last chunk with no choices
    json last = completion_chunk(id_, model_, created_, json::object(), nullptr);
    last["choices"] = json::array();
    last["usage"] = usage;
    if (!put_(chunk_event(last))) return false;
  }
  return put_("data: [DONE]\n\n");
}

bool TokenStream::send_up_to(const std::string& text, size_t end, const TokenLogprobs& logprobs) {
  if (end <= sent_ && began_) return true;
  json entries = nullptr;
  if (logprobs_) {  // the tokens whose text starts in what is sent now
    entries = json::array();
    for (; entries_sent_ < logprobs.size() && logprobs[entries_sent_].first < end; ++entries_sent_)
      if (logprobs[entries_sent_].first >= sent_) entries.push_back(logprobs[entries_sent_].second);
  }
  json delta = {{"content", text.substr(sent_, end > sent_ ? end - sent_ : 0)}};
  if (!began_) delta["role"] = "assistant";
  began_ = true;
  sent_ = std::max(sent_, end);
  return send(std::move(delta), nullptr, std::move(entries));
}

bool TokenStream::send(json delta, const json& finish, json logprobs) {
  json chunk = completion_chunk(id_, model_, created_, std::move(delta), finish);
  if (!logprobs.is_null()) chunk["choices"][0]["logprobs"] = {{"content", std::move(logprobs)}};
  return put_(chunk_event(chunk));
}

}  // namespace smacs
