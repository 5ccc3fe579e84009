// libFuzzer target: request parsing must never crash, hang or throw, whatever the bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/openai_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const auto parsed = smacs::parse_chat_request(body);
  if (parsed.ok()) {
    // A request that parses must have what the gateway relies on.
    if (parsed->model.empty() || !parsed->body.is_object()) __builtin_trap();
  } else if (parsed.error().message.empty() || parsed.error().status < 400) {
    __builtin_trap();
  }
  return 0;
}
