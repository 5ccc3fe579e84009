// An embedder that remembers: eval's tuning scores the same recorded responses under every
// grid point, and embedding a long free-text reply costs far more than looking it up.
// Thread-safe; unbounded (for a fixed set of texts, not for a server).
#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "embedding/embedder.h"

namespace smacs {

class MemoEmbedder : public Embedder {
 public:
  explicit MemoEmbedder(std::shared_ptr<Embedder> inner) : inner_(std::move(inner)) {}
  void fit(const std::vector<std::string>& corpus) override { inner_->fit(corpus); }
  SparseVec embed(std::string_view text) const override {
    {
      std::shared_lock read(mutex_);
      if (auto it = memo_.find(text); it != memo_.end()) return it->second;
    }
    SparseVec v = inner_->embed(text);
    std::unique_lock write(mutex_);
    return memo_.try_emplace(std::string(text), std::move(v)).first->second;
  }
  std::string name() const override { return inner_->name(); }
  std::string cache_key() const override { return inner_->cache_key(); }

 private:
  struct Hash {  // heterogeneous lookup: find() by string_view without a copy
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::shared_ptr<Embedder> inner_;
  mutable std::shared_mutex mutex_;
  mutable std::unordered_map<std::string, SparseVec, Hash, std::equal_to<>> memo_;
};

}  // namespace smacs
