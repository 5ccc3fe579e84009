// A bank snapshot: everything open_bank() derives from a .sqlite bank (its rows, the fitted
// TF-IDF table and the exact index's postings) in one binary file beside it,
// "<bank>.snapshot", so a large bank opens without re-reading SQLite and re-indexing every
// question (a million questions: about 1 s instead of 7 s). A pretrained embedder's dense bank
// has one of its own, "<bank>.dense-<embedder and index>.snapshot", and its index (the float
// matrix, or the HNSW graph) in "<that>.index": opened again, not one question is embedded.
//
// It is only a cache. It names the bank (BankFile::Version: id and revision) it was made
// from; every write to the bank bumps the revision, so a snapshot of an older state, of
// another bank, or one that is damaged is ignored and replaced. Deleting it is always safe.
// A bank read from it uses its index in place (mapped), so it must never be truncated or
// rewritten in place while a gateway has it open (that is a SIGBUS): smacs replaces it by
// renaming a new file over it, and so must anyone who copies one in.
#pragma once
#include <optional>
#include <string>

#include "bank/bank_store.h"

namespace smacs {

// Where the bank opened with `options` keeps its snapshot.
std::string snapshot_path(const std::string& bank_path, const BankOptions& options = {});

// Writes atomically (temporary files, then rename). For banks built with the built-in TF-IDF
// embedder and the exact index, and for dense banks (a pretrained embedder's, either index).
// Throws smacs::Error when the file cannot be written.
void save_snapshot(const PriorBank& bank, const BankFile::Version& version,
                   const std::string& path);

// The bank as it was saved, or nullopt when the file is missing, made from another bank or
// revision, with another embedder or index kind than `options` asks for, or damaged.
std::optional<PriorBank> load_snapshot(const std::string& path, const BankFile::Version& version,
                                       const BankOptions& options = {});

}  // namespace smacs
