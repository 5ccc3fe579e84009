// Tokens per second of the in-process llama backend against llama.cpp's own llama-bench, on
// the same GGUF file and thread count (target: ratio >= 0.95).
//
//   smacs_llama_bench [--model F.gguf] [--threads 2] [--tokens 128] [--reps 10]
//
// Without --model it writes a random-weight model shaped like a small real one (F16, 8 layers,
// width 768, vocabulary 8192). Both sides measure text generation only (llama-bench's tg test;
// the backend's `timings.predicted_per_second`), greedy, never stopping early.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "generation/backend.h"
#include "llama/tiny_gguf.h"

using namespace smacs;
using nlohmann::json;

namespace {

struct Options {
  std::string model;
  int threads = 2, tokens = 128, reps = 10;
};

const char* kUsage =
    "usage: smacs_llama_bench [--model F.gguf] [--threads 2] [--tokens 128] [--reps 10]\n"
    "  tokens/s of the in-process llama backend vs llama.cpp's llama-bench on one GGUF file;\n"
    "  without --model a random-weight model (F16, 8 layers, width 768) is written first\n";

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h")
      std::fputs(kUsage, stdout), std::exit(0);
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc) throw Error(std::string(argv[i]) + " needs a value\n" + kUsage);
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model")
      o.model = v;
    else if (k == "--threads")
      o.threads = std::stoi(v);
    else if (k == "--tokens")
      o.tokens = std::stoi(v);
    else if (k == "--reps")
      o.reps = std::stoi(v);
    else
      throw Error("unknown option " + k + "\n" + kUsage);
  }
  return o;
}

// One backend kept for all rounds, as a server would; `generate()` is one timed run.
class InProcess {
 public:
  explicit InProcess(const Options& o)
      // the context llama-bench gives tg: the generated tokens (plus our short chat prompt)
      : backend_(make_llama_backend({.name = "bench",
                                     .gguf = o.model,
                                     .context = static_cast<uint32_t>(o.tokens + 64),
                                     .threads = o.threads})),
        request_({{"model", "bench"},
                  {"messages", {{{"role", "user"}, {"content", "Hello"}}}},
                  {"max_tokens", o.tokens},
                  {"temperature", 0},
                  {"ignore_eos", true}}),
        tokens_(o.tokens) {
    generate();  // warm-up
  }
  double generate() {
    const BackendReply reply =
        backend_->complete(request_, Clock::now() + std::chrono::minutes(10));
    if (!reply.ok()) throw Error("in-process generation failed: " + reply.error().message);
    if (reply->body["usage"]["completion_tokens"] != tokens_) throw Error("short generation");
    return reply->body["timings"]["predicted_per_second"].get<double>();
  }

 private:
  std::unique_ptr<Backend> backend_;
  json request_;
  int tokens_;
};

// One llama-bench tg run (it warms up itself; its process start is not in its timing).
double llama_bench(const Options& o) {
  // llama-bench looks for the CPU backends (libggml-cpu-*.so) in the working directory
  const std::string cmd = "cd " SMACS_LLAMA_LIB_DIR " && " SMACS_LLAMA_BENCH " -m " +
                          std::filesystem::absolute(o.model).string() + " -t " +
                          std::to_string(o.threads) + " -p 0 -n " + std::to_string(o.tokens) +
                          " -r 1 -o json 2>/dev/null";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  if (::pclose(pipe) != 0) throw Error("llama-bench failed: " + cmd);
  return json::parse(out).at(0).at("avg_ts").get<double>();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Options o = parse(argc, argv);
    if (o.model.empty()) {
      o.model = (std::filesystem::temp_directory_path() / "smacs-llama-bench.gguf").string();
      std::cerr << "writing a random-weight model to " << o.model << " ..." << std::endl;
      write_tiny_gguf(o.model, {.vocab = 8192,
                                .embd = 768,
                                .layers = 8,
                                .heads = 12,
                                .kv_heads = 4,
                                .ff = 2048,
                                .context = 2048,
                                .f16 = true});
    }
    // Rounds alternate which side runs first (ABBA), so drifts in this machine's speed (turbo,
    // neighbours) hit both sides alike; the medians are compared.
    InProcess ours(o);
    std::vector<double> a, b;
    for (int r = 0; r < o.reps; ++r) {
      if (r % 2 == 0) {
        a.push_back(ours.generate());
        b.push_back(llama_bench(o));
      } else {
        b.push_back(llama_bench(o));
        a.push_back(ours.generate());
      }
    }
    const double ratio = median(a) / median(b);
    std::printf("model %s, %d threads, %d generated tokens, %d alternating rounds\n",
                o.model.c_str(), o.threads, o.tokens, o.reps);
    auto row = [](const char* name, const std::vector<double>& v) {
      std::printf("%-20s median %8.2f tokens/s  (rounds:", name, median(v));
      for (double x : v) std::printf(" %.1f", x);
      std::printf(")\n");
    };
    row("in-process backend", a);
    row("llama-bench tg", b);
    std::printf("ratio: %.3f (target >= 0.95: %s)\n", ratio, ratio >= 0.95 ? "met" : "NOT met");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "smacs_llama_bench: error: %s\n", e.what());
    return 1;
  }
}
