#include "llama/runtime.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <utility>

#include "core/error.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "llama.h"

namespace smacs {

namespace {

thread_local std::string t_errors;  // llama.cpp's recent error lines on this thread

void log_callback(ggml_log_level level, const char* text, void* echo) {
  if (echo) std::fputs(text, stderr);
  if (level == GGML_LOG_LEVEL_ERROR || level == GGML_LOG_LEVEL_WARN) {
    if (t_errors.size() > 2000) t_errors.clear();
    t_errors += text;
  }
}

// The folder libggml was loaded from: the CPU backend variants (libggml-cpu-*.so) live
// beside it, and ggml picks the best one for this CPU at run time.
std::string ggml_library_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&ggml_backend_load_all), &info) == 0 || !info.dli_fname)
    return {};
  return std::filesystem::path(info.dli_fname).parent_path().string();
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (auto& c : s)
    if (c == '\n') c = ';';
  return s;
}

// The thread pool functions live in the CPU backend library ggml picked at run time.
template <typename Fn>
Fn* cpu_backend_function(const char* name) {
  ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
  void* fn =
      cpu ? ggml_backend_reg_get_proc_address(ggml_backend_dev_backend_reg(cpu), name) : nullptr;
  if (!fn) throw Error(std::string("llama.cpp's CPU backend has no ") + name);
  return reinterpret_cast<Fn*>(fn);
}

// Without a persistent pool ggml starts and joins its worker threads for every decoded
// token, which costs several percent of generation speed.
ThreadpoolPtr make_threadpool(int threads) {
  ggml_threadpool_params params = ggml_threadpool_params_default(threads);
  ThreadpoolPtr pool(
      cpu_backend_function<decltype(ggml_threadpool_new)>("ggml_threadpool_new")(&params));
  if (!pool) throw Error("llama.cpp could not start " + std::to_string(threads) + " threads");
  return pool;
}

}  // namespace

void ContextDeleter::operator()(llama_context* ctx) const { llama_free(ctx); }

void ThreadpoolDeleter::operator()(ggml_threadpool* pool) const {
  cpu_backend_function<decltype(ggml_threadpool_free)>("ggml_threadpool_free")(pool);
}

LlamaContext new_context(llama_model* model, llama_context_params params, int threads,
                         const std::string& who) {
  llama_runtime_init();
  if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
  params.n_threads = params.n_threads_batch = std::max(threads, 1);
  params.no_perf = true;
  LlamaContext c;
  c.ctx.reset(llama_init_from_model(model, params));
  if (!c.ctx) throw Error(who + ": cannot create a context: " + take_llama_errors());
  c.threads = make_threadpool(params.n_threads);
  llama_attach_threadpool(c.get(), c.threads.get(), nullptr);
  return c;
}

void llama_runtime_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* verbose = std::getenv("SMACS_LLAMA_LOG");
    static bool echo = verbose && *verbose && std::strcmp(verbose, "0") != 0;
    llama_log_set(log_callback, echo ? &echo : nullptr);
    const std::string dir = ggml_library_dir();
    ggml_backend_load_all_from_path(dir.empty() ? nullptr : dir.c_str());
    llama_backend_init();
    if (ggml_backend_dev_count() == 0)
      throw Error("llama.cpp found no CPU backend next to libggml in '" + dir + "'");
  });
}

std::string take_llama_errors() { return trimmed(std::exchange(t_errors, {})); }

LlamaModelPtr load_gguf_model(const std::string& path) {
  llama_runtime_init();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error("GGUF model '" + path + "' does not exist or is not a file");
  char magic[4] = {};
  std::ifstream(path, std::ios::binary).read(magic, 4);
  if (std::memcmp(magic, "GGUF", 4) != 0)
    throw Error("'" + path + "' is not a GGUF file (it does not start with \"GGUF\")");
  llama_model_params params = llama_model_default_params();
  params.n_gpu_layers = 0;
  params.progress_callback = [](float, void*) { return true; };  // no progress dots
  take_llama_errors();
  llama_model* model = llama_model_load_from_file(path.c_str(), params);
  if (!model) {
    const std::string why = take_llama_errors();
    throw Error("cannot load GGUF model '" + path + "'" + (why.empty() ? "" : ": " + why));
  }
  return LlamaModelPtr(model, llama_model_free);
}

std::vector<int32_t> tokenize(const llama_vocab* vocab, std::string_view text, bool special) {
  if (text.size() > static_cast<size_t>(INT32_MAX / 2)) throw Error("text too long to tokenize");
  const int32_t len = static_cast<int32_t>(text.size());
  std::vector<llama_token> tokens(text.size() + 8);
  int32_t n = llama_tokenize(vocab, text.data(), len, tokens.data(),
                             static_cast<int32_t>(tokens.size()), special, special);
  if (n < 0) {
    tokens.resize(static_cast<size_t>(-n));
    n = llama_tokenize(vocab, text.data(), len, tokens.data(), -n, special, special);
  }
  if (n < 0) throw Error("llama.cpp could not tokenize the text");
  tokens.resize(static_cast<size_t>(n));
  return tokens;
}

std::string token_piece(const llama_vocab* vocab, int32_t token) {
  char buf[128];
  int32_t n = llama_token_to_piece(vocab, token, buf, sizeof buf, 0, /*special=*/false);
  if (n >= 0) return std::string(buf, static_cast<size_t>(n));
  std::string big(static_cast<size_t>(-n), '\0');
  n = llama_token_to_piece(vocab, token, big.data(), -n, 0, false);
  return n < 0 ? std::string() : big;
}

std::string detokenize(const llama_vocab* vocab, const std::vector<int32_t>& tokens) {
  std::string text(tokens.size() * 8 + 16, '\0');
  const auto n_tokens = static_cast<int32_t>(tokens.size());
  int32_t n = llama_detokenize(vocab, tokens.data(), n_tokens, text.data(),
                               static_cast<int32_t>(text.size()), true, false);
  if (n < 0) {
    text.resize(static_cast<size_t>(-n));
    n = llama_detokenize(vocab, tokens.data(), n_tokens, text.data(), -n, true, false);
  }
  text.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return text;
}

std::string apply_chat_template(const llama_model* model, const std::vector<ChatTurn>& turns) {
  std::vector<llama_chat_message> msgs;
  size_t chars = 0;
  for (const auto& t : turns) {
    msgs.push_back({t.role.c_str(), t.text.c_str()});
    chars += t.role.size() + t.text.size();
  }
  const char* tmpl = llama_model_chat_template(model, nullptr);
  std::string out(2 * chars + 256, '\0');
  auto apply = [&](const char* t) {
    return llama_chat_apply_template(t, msgs.data(), msgs.size(), true, out.data(),
                                     static_cast<int32_t>(out.size()));
  };
  int32_t n = apply(tmpl);
  if (n < 0) tmpl = nullptr, n = apply(nullptr);  // unknown template: ChatML
  if (n > static_cast<int32_t>(out.size())) {
    out.resize(static_cast<size_t>(n));
    n = apply(tmpl);
  }
  if (n < 0) throw Error("llama.cpp could not apply a chat template");
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace smacs
