// The engines behind BankFile (bank_store.h), for BankFile::open only.
#pragma once
#include <memory>
#include <random>
#include <string>

#include "bank/bank_store.h"

namespace smacs {

std::unique_ptr<BankFile> open_sqlite_bank(const std::string& path, BankFile::Mode mode);
std::unique_ptr<BankFile> open_postgres_bank(const std::string& url, BankFile::Mode mode);

// A fresh random id names a bank in its snapshots: a bank replaced by another (save_bank)
// starts again at revision 0 and must not match the old snapshot.
std::string new_bank_id();

}  // namespace smacs
