// An Embedder on a GGUF embedding model run in-process through llama.cpp: the model's own
// pooling (mean when it declares none), L2-normalised, as a dense vector (ids 0..d-1).
// Texts longer than the context are cut to it. Calls are serialised on one context.
#include <algorithm>
#include <filesystem>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "embedding/embedder.h"
#include "llama.h"
#include "llama/runtime.h"

namespace smacs {

namespace {

class LlamaEmbedder final : public Embedder {
 public:
  explicit LlamaEmbedder(const LlamaEmbedderConfig& c) : path_(c.gguf) {
    model_ = load_gguf_model(c.gguf);
    vocab_ = llama_model_get_vocab(model_.get());
    dim_ = llama_model_n_embd_out(model_.get());
    llama_context_params p = llama_context_default_params();
    p.n_ctx = p.n_batch = p.n_ubatch = c.context;  // one text = one batch (non-causal models)
    p.embeddings = true;
    p.pooling_type = LLAMA_POOLING_TYPE_UNSPECIFIED;
    const std::string who = "llama embedder '" + path_ + "'";
    ctx_ = new_context(model_.get(), p, c.threads, who);
    if (llama_pooling_type(ctx_.get()) == LLAMA_POOLING_TYPE_NONE) {
      p.pooling_type = LLAMA_POOLING_TYPE_MEAN;  // a generative model: mean over its tokens
      ctx_ = new_context(model_.get(), p, c.threads, who);
    }
  }

  void fit(const std::vector<std::string>&) override {}  // pretrained: nothing to fit

  SparseVec embed(std::string_view text) const override {
    std::lock_guard lock(mu_);
    std::vector<llama_token> tokens = tokenize(vocab_, text, /*special=*/true);
    const size_t n_max = std::min(llama_n_ctx(ctx_.get()), llama_n_ubatch(ctx_.get()));
    if (tokens.size() > n_max) tokens.resize(n_max);
    if (tokens.empty()) tokens.push_back(llama_vocab_bos(vocab_));
    llama_memory_clear(llama_get_memory(ctx_.get()), true);
    if (llama_decode(ctx_.get(),
                     llama_batch_get_one(tokens.data(), static_cast<int32_t>(tokens.size()))))
      throw Error("llama embedder '" + path_ + "': decoding failed: " + take_llama_errors());
    const float* e = llama_get_embeddings_seq(ctx_.get(), 0);
    if (!e) throw Error("llama embedder '" + path_ + "': the model gave no pooled embedding");
    SparseVec v = dense_vector(std::vector<float>(e, e + dim_));
    l2_normalize(v);
    return v;
  }

  std::string name() const override { return "llama:" + path_; }
  // The file's size and modification time stand for its weights (hashing gigabytes would
  // cost more than the embeddings it saves); the cache's probe catches the rest.
  std::string cache_key() const override {
    std::error_code ec;
    const auto abs = std::filesystem::absolute(path_, ec).string();
    const auto size = std::filesystem::file_size(path_, ec);
    const auto mtime = std::filesystem::last_write_time(path_, ec).time_since_epoch().count();
    return "llama:" + abs + "|" + std::to_string(size) + "|" + std::to_string(mtime);
  }

 private:
  std::string path_;
  LlamaModelPtr model_;
  const llama_vocab* vocab_ = nullptr;
  int32_t dim_ = 0;
  LlamaContext ctx_;
  mutable std::mutex mu_;
};

}  // namespace

std::shared_ptr<Embedder> make_llama_embedder(const LlamaEmbedderConfig& config) {
  return std::make_shared<LlamaEmbedder>(config);
}

}  // namespace smacs
