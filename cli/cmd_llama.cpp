// `smacs llama tiny`: writes a random-weight GGUF model to try the in-process llama backend
// (and to test and benchmark it) where no real weights can be downloaded.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "llama/tiny_gguf.h"

namespace smacs::cli {

void add_llama_commands(CLI::App& app, Commands& commands) {
  auto* llama = app.add_subcommand("llama", "Tools for the in-process llama.cpp backend");
  llama->require_subcommand(1);
  auto* tiny = llama->add_subcommand(
      "tiny", "Write a small llama-architecture GGUF model with random weights (output is noise)");
  auto out = std::make_shared<std::string>();
  auto spec = std::make_shared<TinyModelSpec>();
  tiny->add_option("--out", *out, "The .gguf file to write")->required();
  tiny->add_option("--vocab", spec->vocab, "Vocabulary size (>= 300)")->capture_default_str();
  tiny->add_option("--embd", spec->embd, "Embedding width")->capture_default_str();
  tiny->add_option("--layers", spec->layers, "Transformer blocks")->capture_default_str();
  tiny->add_option("--heads", spec->heads, "Attention heads")->capture_default_str();
  tiny->add_option("--kv-heads", spec->kv_heads, "Key/value heads")->capture_default_str();
  tiny->add_option("--ff", spec->ff, "Feed-forward width")->capture_default_str();
  tiny->add_option("--context", spec->context, "Trained context length")->capture_default_str();
  tiny->add_flag("--f16", spec->f16, "Store the matrices as F16 (else F32)");
  tiny->add_option("--seed", spec->seed, "Seed of the weights")->capture_default_str();
  commands.emplace_back(tiny, [out, spec] {
#ifdef SMACS_WITH_LLAMA
    write_tiny_gguf(*out, *spec);
#else
    throw Error("this smacs was built without llama.cpp (-DSMACS_WITH_LLAMA=OFF)");
#endif
    std::cerr << "smacs llama tiny: wrote " << *out << std::endl;
    return 0;
  });
}

}  // namespace smacs::cli
