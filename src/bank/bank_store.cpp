// BankFile's engine-neutral part: opening by location, the defaults engines may override,
// and the whole-bank helpers (save, load, open with a snapshot).
#include "bank/bank_store.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>

#include "bank/engines.h"
#include "bank/snapshot.h"
#include "core/error.h"
#include "core/secrets.h"
#include "core/temp_file.h"
#include "data/load.h"

namespace smacs {

bool is_postgres_url(const std::string& location) {
  return location.starts_with("postgresql://") || location.starts_with("postgres://");
}

std::unique_ptr<BankFile> BankFile::open(const std::string& location, Mode mode) {
  if (!is_postgres_url(location)) return open_sqlite_bank(location, mode);
  register_url_secrets(location);  // before anything can print a piece of it
  return open_postgres_bank(location, mode);
}

std::string new_bank_id() {
  std::random_device rd;
  const uint64_t a = (uint64_t(rd()) << 32) ^ rd(),
                 b = std::chrono::steady_clock::now().time_since_epoch().count();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b));
  return buf;
}

void BankFile::add_scored_question(const Record& r, const std::string& model,
                                   const ResultRow& result) {
  begin();
  try {
    put_result(add_question(r), add_model(model), result);
  } catch (...) {
    commit();  // what was written stays: add_question and add_model are idempotent
    throw;
  }
  commit();
}

void BankFile::replace_with(const Dataset& data) {
  begin();  // one transaction: a bulk import is all or nothing
  std::vector<int64_t> model_ids;
  for (const auto& m : data.models) model_ids.push_back(add_model(m));
  for (const auto& r : data.records) {
    const int64_t q = add_question(r);
    for (size_t m = 0; m < data.models.size(); ++m) {
      ResultRow row;
      if (!is_missing(r.scores[m])) row.score = r.scores[m];
      if (!r.responses.empty()) row.response = r.responses[m];
      if (!r.costs.empty() && !is_missing(r.costs[m])) row.cost = r.costs[m];
      if (!row.score && row.response.empty()) continue;
      put_result(q, model_ids[m], row);
    }
  }
  commit();
}

bool BankFile::wait_for_change(int timeout_ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
  return false;
}

void BankFile::offer(const std::vector<std::pair<int64_t, int64_t>>& pairs) {
  std::lock_guard lock(offers_mutex_);
  offers_.insert(offers_.end(), pairs.rbegin(), pairs.rend());  // claimed from the back
}

std::vector<std::pair<int64_t, int64_t>> BankFile::claim(const std::vector<int64_t>& models,
                                                         size_t n, int /*lease_ms*/) {
  std::lock_guard lock(offers_mutex_);
  std::vector<std::pair<int64_t, int64_t>> out;
  for (auto it = offers_.end(); it != offers_.begin() && out.size() < n;) {
    --it;
    if (std::find(models.begin(), models.end(), it->second) == models.end()) continue;
    out.push_back(*it);
    it = offers_.erase(it);
  }
  return out;
}

void save_bank(const Dataset& data, const std::string& path) {
  if (is_postgres_url(path))
    return BankFile::open(path, BankFile::Mode::kCreate)->replace_with(data);
  // A temporary name of its own: two saves to one path shared "<path>.tmp", and one removed
  // the other's file while it was written (SQLite errors, or one bank's rows in the other).
  const std::string tmp = unique_temp_path(path);
  RemoveUnlessRenamed cleanup{{tmp, tmp + "-wal", tmp + "-shm", tmp + "-journal"}};
  {
    auto bank = BankFile::open(tmp, BankFile::Mode::kCreate);
    bank->replace_with(data);
    bank->make_portable();
  }
  std::filesystem::rename(tmp, path);
}

Dataset load_bank_data(const std::string& path) {
  return BankFile::open(path, BankFile::Mode::kRead)->load();
}

PriorBank open_bank(const std::string& path, const BankOptions& options) {
  return open_bank(*BankFile::open(path, BankFile::Mode::kRead), options);
}

PriorBank open_bank(const BankFile& file, const BankOptions& options) {
  // TF-IDF with the hashed HNSW is the one kind not kept (it is rebuilt in seconds).
  const bool kept = options.index == IndexKind::kExact || options.embedder;
  // The snapshot names the state it was made from: it is trusted only when the bank is still
  // in that state (its version is read again after the rows when it was not used).
  const auto version = file.version();
  const std::string snap = snapshot_path(file.location(), options);
  if (kept && version)
    if (auto bank = load_snapshot(snap, *version, options)) {
      bank->version = version;
      return std::move(*bank);
    }
  PriorBank bank = build_bank(file.load(), options);
  bank.version = file.loaded_version();
  const bool savable = !bank.pretrained || bank.index->dense_width() > 0;
  if (const auto& loaded = bank.version; kept && savable && loaded) {
    try {
      save_snapshot(bank, *loaded, snap);
    } catch (const std::exception&) {
      // only a cache: a read-only folder or a full disk leaves the bank as it is
    }
  }
  return bank;
}

PriorBank load_bank_from(const std::vector<std::string>& files, const BankOptions& options,
                         const std::string& journal) {
  if (is_bank_location(files)) return open_bank(files[0], options);
  Dataset data = load_files(files);
  if (!journal.empty() && std::filesystem::exists(journal))
    merge_into(data, BankFile::open(journal, BankFile::Mode::kRead)->load());
  return build_bank(std::move(data), options);
}

}  // namespace smacs
