#include "core/failure_kind.h"

namespace smacs {

const char* to_string(FailureKind kind) {
  switch (kind) {
    case FailureKind::kTimeout:
      return "timeout";
    case FailureKind::kConnect:
      return "connect";
    case FailureKind::kClosed:
      return "closed";
    case FailureKind::kStatus:
      return "status";
    case FailureKind::kRateLimited:
      return "rate_limited";
    case FailureKind::kMalformed:
      return "malformed";
    case FailureKind::kInvalidUtf8:
      return "invalid_utf8";
    case FailureKind::kBusy:
      return "busy";
    case FailureKind::kCircuitOpen:
      return "circuit_open";
    case FailureKind::kTooLarge:
      return "too_large";
    case FailureKind::kAbandoned:
      return "abandoned";
    case FailureKind::kOther:
      break;
  }
  return "other";
}

}  // namespace smacs
