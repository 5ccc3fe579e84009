// Things a gateway remembers by id for a while — answers awaiting feedback, Responses API
// responses awaiting a previous_response_id — each readable only by the API key that made it,
// and bounded: at most `max_bytes` (as the caller weighs each) and `max_count` ids, the oldest
// forgotten first. Not locked: its owner holds a lock around every call.
#pragma once
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

namespace smacs {

// The ids a gateway's memories hold at most: their byte bounds are what bites.
inline constexpr size_t kMaxRememberedIds = 1000000;

template <class T>
class BoundedMemory {
 public:
  BoundedMemory(size_t max_bytes, size_t max_count)
      : max_bytes_(max_bytes), max_count_(max_count) {}

  // Keeps `value` under `id`, replacing what was there; false (and nothing kept) when it alone
  // weighs more than the whole bound.
  bool put(const std::string& id, std::string owner, T value, size_t bytes) {
    if (bytes > max_bytes_) return false;
    if (const auto old = entries_.find(id); old != entries_.end()) forget(old);
    order_.emplace_back(id, ++puts_);
    entries_.insert_or_assign(id, Entry{std::move(owner), std::move(value), bytes, puts_});
    bytes_ += bytes;
    evict();
    return true;
  }

  // The value under `id` when `owner` made it; else nullptr (another key's is not told apart
  // from a missing one: ids are not to be probed).
  T* find(const std::string& id, const std::string& owner) {
    const auto it = entries_.find(id);
    return it == entries_.end() || it->second.owner != owner ? nullptr : &it->second.value;
  }

  // Takes the value out (as find, then forgotten).
  std::optional<T> take(const std::string& id, const std::string& owner) {
    const auto it = entries_.find(id);
    if (it == entries_.end() || it->second.owner != owner) return std::nullopt;
    T value = std::move(it->second.value);
    forget(it);
    return value;
  }

  // What it holds: the values' weights, and a little for each id still in the age order.
  size_t bytes() const { return bytes_; }

 private:
  struct Entry {
    std::string owner;
    T value;
    size_t bytes;
    uint64_t put;  // which put made it: an id put again leaves a stale place in the order
  };
  static size_t stale_bytes(const std::string& id) { return id.size() + 32; }

  // The entry goes; its place in the order stays (stale) until evict() reaches or drops it.
  void forget(typename std::unordered_map<std::string, Entry>::iterator it) {
    bytes_ -= it->second.bytes;
    bytes_ += stale_bytes(it->first);
    entries_.erase(it);
  }

  bool live(const std::pair<std::string, uint64_t>& place) const {
    const auto it = entries_.find(place.first);
    return it != entries_.end() && it->second.put == place.second;
  }

  void evict() {
    while (!order_.empty() && (bytes_ > max_bytes_ || order_.size() > max_count_)) {
      auto& [id, put] = order_.front();
      if (live(order_.front())) forget(entries_.find(id));
      bytes_ -= stale_bytes(id);
      order_.pop_front();
    }
    // Stale places are dropped once they outnumber the live ones.
    if (order_.size() > 2 * entries_.size() + 64) {
      std::deque<std::pair<std::string, uint64_t>> kept;
      for (auto& place : order_) {
        if (live(place))
          kept.push_back(std::move(place));
        else
          bytes_ -= stale_bytes(place.first);
      }
      order_ = std::move(kept);
    }
  }

  std::unordered_map<std::string, Entry> entries_;
  std::deque<std::pair<std::string, uint64_t>> order_;  // (id, put), oldest first
  uint64_t puts_ = 0;
  size_t bytes_ = 0;
  size_t max_bytes_, max_count_;
};

}  // namespace smacs
