// A bank snapshot: everything open_bank() derives from a .sqlite bank (its rows, the fitted
// TF-IDF table and the exact index's postings) in one binary file beside it,
// "<bank>.snapshot", so a large bank opens without re-reading SQLite and re-indexing every
// question (a million questions: about 1 s instead of 7 s).
//
// It is only a cache. It names the bank (BankFile::Version: id and revision) it was made
// from; every write to the bank bumps the revision, so a snapshot of an older state, of
// another bank, or one that is damaged is ignored and replaced. Deleting it is always safe.
#pragma once
#include <optional>
#include <string>

#include "bank/bank_store.h"

namespace smacs {

std::string snapshot_path(const std::string& bank_path);

// Writes atomically (temporary file, then rename). Only for banks built with the built-in
// TF-IDF embedder and the exact index. Throws smacs::Error when the file cannot be written.
void save_snapshot(const PriorBank& bank, const BankFile::Version& version,
                   const std::string& path);

// The bank as it was saved, or nullopt when the file is missing, made from another bank or
// revision, or damaged.
std::optional<PriorBank> load_snapshot(const std::string& path, const BankFile::Version& version);

}  // namespace smacs
