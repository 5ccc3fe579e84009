// libFuzzer target: the Responses and Messages doors must never crash, hang or throw, whatever
// the bytes: as a request (parsed, turned into chat messages and a chat request), and as a
// backend's event stream (read in two pieces, re-spoken by both translators).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/messages_api.h"
#include "api/responses_api.h"

using namespace smacs;

namespace {

void check(const ApiError& e) {
  if (e.message.empty() || e.status < 400) __builtin_trap();
}

void as_request(std::string_view body) {
  if (auto r = parse_responses_request(body); r.ok()) {
    auto messages = items_to_messages(r->instructions, r->input_items, 0);
    if (!messages.ok()) return check(messages.error());
    auto chat = chat_request_from_json(responses_chat_body(*r, std::move(*messages)));
    if (!chat.ok()) check(chat.error());
  } else {
    check(r.error());
  }
  if (auto m = parse_messages_request(body); m.ok()) {
    auto chat = chat_request_from_json(m->chat);
    if (!chat.ok()) check(chat.error());
    (void)estimate_input_tokens(m->chat);
  } else {
    check(m.error());
  }
  (void)anthropic_error_text(400, std::string(body));
}

void as_stream(std::string_view bytes) {
  auto responses = make_responses_stream("resp_f", "m", nlohmann::json::object(), nullptr, true);
  auto messages = make_messages_stream("msg_f", "m", nullptr, true);
  SseChunkReader reader(1 << 16);
  const size_t cut = bytes.size() / 2;
  for (std::string_view piece : {bytes.substr(0, cut), bytes.substr(cut)}) {
    const bool ok = reader.feed(piece, [&](const nlohmann::json& chunk) {
      (void)responses->chunk(chunk);
      (void)messages->chunk(chunk);
    });
    if (!ok) break;
  }
  (void)responses->end();
  (void)messages->end();
  (void)responses->object().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  as_request(bytes);
  as_stream(bytes);
  return 0;
}
