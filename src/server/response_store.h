// The Responses API's memory: a response and the conversation that led to it (as items), by
// id, so `previous_response_id` can continue it and GET /v1/responses/{id} can show it. Bounded
// in bytes (the oldest go first); only the API key that asked may read one.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace smacs {

class ResponseStore {
 public:
  explicit ResponseStore(size_t max_bytes) : max_bytes_(max_bytes) {}

  // As JSON text: what it weighs is its size, and a tree would cost more to copy and free than
  // the text costs to parse on the rare turn that continues it.
  struct Stored {
    std::string input;     // the conversation's input items (a JSON array): the earlier turns'
                           // (their input and output), then this request's
    std::string response;  // the Response object as the client got it (its output: this turn's)
  };
  void put(const std::string& id, const std::string& owner, Stored stored);
  // nullptr when unknown, forgotten, or asked by another key (the same to the client).
  std::shared_ptr<const Stored> get(const std::string& id, const std::string& owner) const;
  bool erase(const std::string& id, const std::string& owner);

 private:
  struct Entry {
    std::string owner;
    std::shared_ptr<const Stored> stored;  // shared: a reader copies nothing under the lock
    uint64_t put = 0;                      // which put() made it (an id may be put again)
    size_t bytes() const { return owner.size() + stored->input.size() + stored->response.size(); }
  };
  void evict();  // holds mutex_

  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  // (id, put), oldest first; stale ones (erased, or put again since) linger until dropped.
  std::deque<std::pair<std::string, uint64_t>> order_;
  uint64_t puts_ = 0;
  size_t bytes_ = 0;
  size_t max_bytes_;
};

}  // namespace smacs
