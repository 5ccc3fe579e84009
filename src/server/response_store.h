// The Responses API's memory: a response and the conversation that led to it, by id, so
// `previous_response_id` can continue it and GET /v1/responses/{id} can show it. Bounded in bytes
// (the oldest go first); only the API key that asked may read one. Thread-safe.
#pragma once
#include <memory>
#include <mutex>
#include <string>

#include "server/bounded_memory.h"

namespace smacs {

class ResponseStore {
 public:
  explicit ResponseStore(size_t max_bytes) : memory_(max_bytes, kMaxRememberedIds) {}

  // As JSON text: what it weighs is its size, and a tree would cost more to copy and free than
  // the text costs to parse on the rare turn that continues it.
  struct Stored {
    std::string input;     // the conversation's input items (a JSON array): the earlier turns'
                           // (their input and output), then this request's
    std::string response;  // the Response object as the client got it (its output: this turn's)
  };
  void put(const std::string& id, const std::string& owner, Stored stored) {
    const size_t bytes = id.size() + owner.size() + stored.input.size() + stored.response.size();
    auto shared = std::make_shared<const Stored>(std::move(stored));
    std::lock_guard lock(mutex_);
    memory_.put(id, owner, std::move(shared), bytes);
  }
  // nullptr when unknown, forgotten, or asked by another key (the same to the client). Shared:
  // a reader copies nothing under the lock.
  std::shared_ptr<const Stored> get(const std::string& id, const std::string& owner) {
    std::lock_guard lock(mutex_);
    const auto found = memory_.find(id, owner);
    return found ? *found : nullptr;
  }
  bool erase(const std::string& id, const std::string& owner) {
    std::lock_guard lock(mutex_);
    return memory_.take(id, owner).has_value();
  }

 private:
  std::mutex mutex_;
  BoundedMemory<std::shared_ptr<const Stored>> memory_;
};

}  // namespace smacs
