// The thin layer over llama.cpp that the in-process backend and embedder share: one-time
// initialisation, loading a GGUF file with errors a person can act on, tokens <-> text.
//
// llama.cpp reports problems through its log, not its return values, so the runtime keeps
// the last error lines and puts them into the smacs::Error it throws. Set SMACS_LLAMA_LOG=1
// to see llama.cpp's whole log on stderr.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "llama.h"

namespace smacs {

using LlamaModelPtr = std::shared_ptr<llama_model>;
struct ContextDeleter {
  void operator()(llama_context* ctx) const;
};
using LlamaContextPtr = std::unique_ptr<llama_context, ContextDeleter>;

// A persistent CPU thread pool for one context.
struct ThreadpoolDeleter {
  void operator()(ggml_threadpool* pool) const;
};
using ThreadpoolPtr = std::unique_ptr<ggml_threadpool, ThreadpoolDeleter>;

// A llama.cpp context with its own persistent thread pool.
struct LlamaContext {
  ThreadpoolPtr threads;  // declared first: outlives the context using it
  LlamaContextPtr ctx;
  llama_context* get() const { return ctx.get(); }
};

// `params` with `threads` CPU threads (<= 0: all cores) and no perf counters. Throws
// smacs::Error starting with `who` when llama.cpp cannot create it.
LlamaContext new_context(llama_model* model, llama_context_params params, int threads,
                         const std::string& who);

// Loads the CPU backends (once per process) and routes llama.cpp's log. Thread-safe.
void llama_runtime_init();

// Loads a GGUF model for CPU inference. Throws smacs::Error: missing file, not a GGUF file,
// or what llama.cpp said when it could not load it.
LlamaModelPtr load_gguf_model(const std::string& path);

// Text -> tokens with the model's tokenizer. `special`: add BOS/EOS as the model wants and
// parse control tokens written in the text (chat-template markers).
std::vector<int32_t> tokenize(const llama_vocab* vocab, std::string_view text, bool special);

// One token's text (control tokens render as nothing).
std::string token_piece(const llama_vocab* vocab, int32_t token);

// Tokens -> text, the inverse of tokenize() without the special tokens.
std::string detokenize(const llama_vocab* vocab, const std::vector<int32_t>& tokens);

// The chat prompt for (role, text) messages using the model's chat template, ending where the
// assistant's reply begins. Models without a template (or with one llama.cpp cannot run) get
// ChatML.
struct ChatTurn {
  std::string role, text;
};
std::string apply_chat_template(const llama_model* model, const std::vector<ChatTurn>& turns);

// The last error lines llama.cpp logged on this thread (cleared on read).
std::string take_llama_errors();

}  // namespace smacs
