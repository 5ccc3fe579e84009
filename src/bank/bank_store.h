// Persists a prior bank's rows to SQLite. Opening a bank re-embeds its questions (the
// TF-IDF fit is deterministic), so the file holds data only and never stale vectors.
#pragma once
#include <string>

#include "bank/prior_bank.h"

namespace smacs {

// Writes (replaces) `path` atomically: a temporary file renamed into place.
void save_bank(const Dataset& data, const std::string& path);
Dataset load_bank_data(const std::string& path);
PriorBank open_bank(const std::string& path, IndexKind kind = IndexKind::kExact);

}  // namespace smacs
