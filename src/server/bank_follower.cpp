#include "server/bank_follower.h"

#include <iostream>

#include "core/error.h"
#include "core/secrets.h"

namespace smacs {

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
      .count();
}

}  // namespace

BankFollower::BankFollower(Gateway& gateway, const std::string& location, FollowOptions options)
    : gateway_(gateway),
      options_(options),
      file_(BankFile::open(location, BankFile::Mode::kRead)),
      last_contact_ms_(now_ms()) {
  thread_ = std::thread([this] { loop(); });
}

BankFollower::~BankFollower() {
  stop_ = true;
  thread_.join();  // within one wait_for_change (at most poll_ms)
}

bool BankFollower::ready() const {
  return reachable_ || now_ms() - last_contact_ms_ <= options_.grace_ms;
}

nlohmann::json BankFollower::status() const {
  const auto view = gateway_.view();
  std::shared_lock lock(view->mutex);
  std::lock_guard e(error_mutex_);
  return {{"revision", view->bank.version ? view->bank.version->revision : 0},
          {"reachable", reachable_.load()},
          {"last_contact_ms_ago", now_ms() - last_contact_ms_},
          {"rebuilds", rebuilds_.load()},
          {"appended", appended_.load()},
          {"error", last_error_.empty() ? nlohmann::json() : nlohmann::json(last_error_)}};
}

void BankFollower::loop() {
  while (!stop_) {
    (void)file_->wait_for_change(options_.poll_ms);
    if (stop_) break;
    try {
      catch_up();
      last_contact_ms_ = now_ms();
      if (!reachable_.exchange(true)) {
        std::cerr << "smacs serve: the bank is reachable again (" << file_->location() << ")\n";
        std::lock_guard lock(error_mutex_);
        last_error_.clear();  // /ready shows the outage only while it lasts
      }
    } catch (const std::exception& e) {
      const std::string why = scrub(reason(e));
      if (reachable_.exchange(false))
        std::cerr << "smacs serve: the bank is unreachable, answering from memory: " << why << '\n';
      std::lock_guard lock(error_mutex_);
      last_error_ = why;
    }
  }
}

void BankFollower::catch_up() {
  std::optional<BankVersion> since;
  BankOptions options;
  {
    const auto view = gateway_.view();
    std::shared_lock lock(view->mutex);
    since = view->bank.version;
    options = options_of(view->bank);
  }
  std::optional<BankChanges> changes;
  if (since) changes = file_->changes_since(*since);
  if (!since || !changes || changes->rebuild) {  // reloaded whole here, swapped in at once
    // Into the replaced bank's rows, as /admin/reload does (BankViews::take_spare_rows).
    options.reuse_rows = gateway_.take_spare_rows(kSpareRowsWait);
    PriorBank bank = open_bank(*file_, options);
    std::cerr << "smacs serve: the bank changed beyond new questions: reloaded " << bank.size()
              << " questions, " << bank.data.models.size() << " models (revision "
              << (bank.version ? bank.version->revision : 0) << ")" << std::endl;
    gateway_.reload(std::move(bank));
    ++rebuilds_;
    return;
  }
  if (changes->questions.empty() && changes->revision <= since->revision) return;
  appended_ += changes->questions.size();
  gateway_.add_followed(std::move(changes->questions), changes->models, changes->revision);
}

}  // namespace smacs
