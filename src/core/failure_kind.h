// Why a backend call failed: one closed set of kinds shared by the HTTP clients, the backends
// and the gateway (its /metrics label, its error mapping and its traces).
#pragma once

namespace smacs {

// Why a call failed, for metrics, logs and the gateway's error mapping.
enum class FailureKind {
  kOther,        // none of the below (a backend's own error)
  kTimeout,      // time ran out
  kConnect,      // no connection could be made
  kClosed,       // the connection closed before a reply
  kStatus,       // a non-200 status
  kRateLimited,  // 429
  kMalformed,    // a 200 that is no usable reply
  kInvalidUtf8,  // a reply with bytes that are not UTF-8
  kBusy,         // no free connection (max_concurrency) before the deadline
  kCircuitOpen,  // the gateway did not ask: the backend's circuit is open
  kAbandoned,    // stopped: the client it was made for left (core/abandon.h)
  kTooLarge,     // a reply longer than the caller can use, read no further (the backend answered)
};
// "timeout", "connect", ..., "circuit_open"; "other" for kOther: the /metrics label.
const char* to_string(FailureKind kind);

}  // namespace smacs
