// Loop detection: every request this process sends upstream carries its hop token, so a
// gateway whose pool points back at itself (directly, or through a pass-through chain that
// forwards the header) sees its own token come in and refuses the request instead of calling
// itself again and again.
#pragma once
#include <string>

#include "core/random_id.h"

namespace smacs {

inline constexpr const char* kHopHeader = "X-Smacs-Hop";

// This process's token: random, made once.
inline const std::string& hop_token() {
  static const std::string token = random_id_128().substr(0, 16);
  return token;
}

// Whether a request's hop header says it went through this process already.
inline bool hop_is_loop(const std::string& header) {
  return !header.empty() && header.find(hop_token()) != std::string::npos;
}

}  // namespace smacs
