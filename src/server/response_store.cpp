#include "server/response_store.h"

namespace smacs {

void ResponseStore::put(const std::string& id, const std::string& owner, Stored stored) {
  Entry entry{owner, std::make_shared<const Stored>(std::move(stored)), 0};
  if (entry.bytes() > max_bytes_) return;  // larger than the whole store: not kept
  std::lock_guard lock(mutex_);
  if (const auto old = entries_.find(id); old != entries_.end()) {
    bytes_ -= old->second.bytes();
    entries_.erase(old);
  }
  entry.put = ++puts_;
  order_.emplace_back(id, entry.put);
  bytes_ += entry.bytes();
  entries_.emplace(id, std::move(entry));
  evict();
}

std::shared_ptr<const ResponseStore::Stored> ResponseStore::get(const std::string& id,
                                                                const std::string& owner) const {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(id);
  if (it == entries_.end() || it->second.owner != owner) return nullptr;
  return it->second.stored;
}

bool ResponseStore::erase(const std::string& id, const std::string& owner) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(id);
  if (it == entries_.end() || it->second.owner != owner) return false;
  bytes_ -= it->second.bytes();
  entries_.erase(it);
  return true;
}

void ResponseStore::evict() {
  auto live = [&](const std::pair<std::string, uint64_t>& o) {
    const auto it = entries_.find(o.first);
    return it != entries_.end() && it->second.put == o.second ? it : entries_.end();
  };
  while (bytes_ > max_bytes_ && !order_.empty()) {
    const auto it = live(order_.front());
    order_.pop_front();
    if (it == entries_.end()) continue;
    bytes_ -= it->second.bytes();
    entries_.erase(it);
  }
  // Stale names (erased, or put again since) are dropped once they outnumber the live ones.
  if (order_.size() > 2 * entries_.size() + 64) {
    std::deque<std::pair<std::string, uint64_t>> kept;
    for (auto& o : order_)
      if (live(o) != entries_.end()) kept.push_back(std::move(o));
    order_ = std::move(kept);
  }
}

}  // namespace smacs
