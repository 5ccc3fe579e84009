#include "llama/tiny_gguf.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "core/error.h"
#include "ggml.h"
#include "gguf.h"

namespace smacs {

namespace {

constexpr size_t kMaxTinyBytes = size_t{4} << 30;  // of F32 weights

constexpr const char* kChatML =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

enum TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kByte = 6 };

struct Vocab {
  std::vector<std::string> text;
  std::vector<float> score;
  std::vector<int32_t> type;
  void add(std::string t, TokenType ty) {
    score.push_back(ty == kNormal ? -static_cast<float>(text.size()) : 0.0f);
    text.push_back(std::move(t));
    type.push_back(ty);
  }
};

Vocab make_vocab(uint32_t size) {
  Vocab v;
  v.add("<unk>", kUnknown);
  for (const char* c : {"<s>", "</s>", "<|im_start|>", "<|im_end|>"}) v.add(c, kControl);
  static const char* hex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) v.add(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">", kByte);
  const std::string space = "\xE2\x96\x81";  // SentencePiece's word-start marker
  v.add(space, kNormal);
  std::vector<std::string> pieces;
  for (char a = 'a'; a <= 'z'; ++a) {
    pieces.push_back(space + a);
    pieces.push_back(std::string(1, a));
  }
  for (char a = 'a'; a <= 'z'; ++a)
    for (char b = 'a'; b <= 'z'; ++b) pieces.push_back(std::string{a, b});
  for (size_t i = 0; v.text.size() < size; ++i)
    v.add(i < pieces.size() ? pieces[i] : "<unused" + std::to_string(i) + ">", kNormal);
  return v;
}

void set_metadata(gguf_context* g, const TinyModelSpec& s, const Vocab& v) {
  gguf_set_val_str(g, "general.architecture", "llama");
  gguf_set_val_str(g, "general.name", "smacs-tiny-random");
  gguf_set_val_u32(g, "llama.context_length", s.context);
  gguf_set_val_u32(g, "llama.embedding_length", s.embd);
  gguf_set_val_u32(g, "llama.block_count", s.layers);
  gguf_set_val_u32(g, "llama.feed_forward_length", s.ff);
  gguf_set_val_u32(g, "llama.attention.head_count", s.heads);
  gguf_set_val_u32(g, "llama.attention.head_count_kv", s.kv_heads);
  gguf_set_val_f32(g, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
  gguf_set_val_u32(g, "llama.rope.dimension_count", s.embd / s.heads);
  gguf_set_val_f32(g, "llama.rope.freq_base", 10000.0f);
  gguf_set_val_u32(g, "llama.vocab_size", s.vocab);
  gguf_set_val_str(g, "tokenizer.ggml.model", "llama");
  std::vector<const char*> texts;
  for (const auto& t : v.text) texts.push_back(t.c_str());
  gguf_set_arr_str(g, "tokenizer.ggml.tokens", texts.data(), texts.size());
  gguf_set_arr_data(g, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, v.score.data(), v.score.size());
  gguf_set_arr_data(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v.type.data(), v.type.size());
  gguf_set_val_u32(g, "tokenizer.ggml.unknown_token_id", 0);
  gguf_set_val_u32(g, "tokenizer.ggml.bos_token_id", 1);
  gguf_set_val_u32(g, "tokenizer.ggml.eos_token_id", 2);
  gguf_set_val_bool(g, "tokenizer.ggml.add_bos_token", true);
  gguf_set_val_str(g, "tokenizer.chat_template",
                   s.chat_template.empty() ? kChatML : s.chat_template.c_str());
}

struct Shape {
  std::string name;
  int64_t ne0, ne1;  // ne1 == 0: a vector (norm weights, set to 1)
};

std::vector<Shape> tensor_shapes(const TinyModelSpec& s) {
  const int64_t e = s.embd, kv = int64_t(s.embd / s.heads) * s.kv_heads, ff = s.ff, n = s.vocab;
  std::vector<Shape> t = {
      {"token_embd.weight", e, n}, {"output_norm.weight", e, 0}, {"output.weight", e, n}};
  for (uint32_t i = 0; i < s.layers; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    t.insert(t.end(), {{b + "attn_norm.weight", e, 0},
                       {b + "attn_q.weight", e, e},
                       {b + "attn_k.weight", e, kv},
                       {b + "attn_v.weight", e, kv},
                       {b + "attn_output.weight", e, e},
                       {b + "ffn_norm.weight", e, 0},
                       {b + "ffn_gate.weight", e, ff},
                       {b + "ffn_up.weight", e, ff},
                       {b + "ffn_down.weight", ff, e}});
  }
  return t;
}

// In doubles: dimensions near 2^32 must not overflow.
double weight_count(const std::vector<Shape>& shapes) {
  double n = 0;
  for (const auto& sh : shapes) n += double(sh.ne0) * double(std::max<int64_t>(sh.ne1, 1));
  return n;
}

// Weights ~ N(0, 1/fan_in) keep activations in range through the layers; norms are 1.
void fill(ggml_tensor* t, const Shape& shape, uint64_t seed) {
  const int64_t n = ggml_nelements(t);
  std::mt19937_64 rng(seed ^ std::hash<std::string>{}(shape.name));
  std::normal_distribution<float> normal(0.0f, 1.0f / std::sqrt(static_cast<float>(shape.ne0)));
  for (int64_t i = 0; i < n; ++i) {
    const float x = shape.ne1 == 0 ? 1.0f : normal(rng);
    if (t->type == GGML_TYPE_F16)
      static_cast<ggml_fp16_t*>(t->data)[i] = ggml_fp32_to_fp16(x);
    else
      static_cast<float*>(t->data)[i] = x;
  }
}

}  // namespace

void write_tiny_gguf(const std::string& path, const TinyModelSpec& s) {
  if (s.vocab < 300) throw Error("tiny model: vocab must be at least 300");
  if (s.heads == 0 || s.kv_heads == 0 || s.embd % s.heads != 0 || s.heads % s.kv_heads != 0 ||
      (s.embd / s.heads) % 2 != 0)
    throw Error("tiny model: embd must split into an even head size; heads a multiple of kv_heads");
  if (s.layers == 0 || s.ff == 0 || s.context < 16) throw Error("tiny model: empty dimensions");
  // Counted before the shapes of every layer are listed or anything is allocated (ggml aborts
  // the process when it cannot allocate): the model without layers, plus `layers` times one.
  TinyModelSpec bare = s;
  bare.layers = 0;
  const double base = weight_count(tensor_shapes(bare));
  bare.layers = 1;
  const double weights = base + s.layers * (weight_count(tensor_shapes(bare)) - base);
  if (weights * sizeof(float) > kMaxTinyBytes)
    throw Error(
        "tiny model: " + std::to_string(static_cast<int64_t>(weights * sizeof(float) / (1 << 20))) +
        " MiB of weights; a tiny model is at most " + std::to_string(kMaxTinyBytes >> 20) + " MiB");
  const std::vector<Shape> shapes = tensor_shapes(s);
  size_t bytes = 0;
  for (const auto& sh : shapes)
    bytes += ggml_tensor_overhead() + 64 + sh.ne0 * std::max<int64_t>(sh.ne1, 1) * sizeof(float);
  std::unique_ptr<ggml_context, void (*)(ggml_context*)> ctx(
      ggml_init({bytes, nullptr, /*no_alloc=*/false}), ggml_free);
  std::unique_ptr<gguf_context, void (*)(gguf_context*)> g(gguf_init_empty(), gguf_free);
  if (!ctx || !g) throw Error("tiny model: out of memory");
  set_metadata(g.get(), s, make_vocab(s.vocab));
  for (const auto& sh : shapes) {
    ggml_tensor* t =
        sh.ne1 == 0
            ? ggml_new_tensor_1d(ctx.get(), GGML_TYPE_F32, sh.ne0)
            : ggml_new_tensor_2d(ctx.get(), s.f16 ? GGML_TYPE_F16 : GGML_TYPE_F32, sh.ne0, sh.ne1);
    ggml_set_name(t, sh.name.c_str());
    fill(t, sh, s.seed);
    gguf_add_tensor(g.get(), t);
  }
  if (!gguf_write_to_file(g.get(), path.c_str(), /*only_meta=*/false))
    throw Error("tiny model: cannot write '" + path + "'");
}

}  // namespace smacs
