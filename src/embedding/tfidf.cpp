#include "embedding/tfidf.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/parallel.h"

namespace smacs {

namespace {

uint64_t fnv1a(std::string_view s, uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

// 64-bit term hash -> bucket: the high bits of a multiplicative mix.
uint32_t fold(uint64_t h) { return static_cast<uint32_t>((h * 0x9E3779B97F4A7C15ULL) >> 42); }
static_assert(kTermBuckets == 1u << (64 - 42));

// Decodes one UTF-8 code point at s[i], advancing i; invalid bytes decode as themselves.
uint32_t next_code_point(std::string_view s, size_t& i) {
  const unsigned char c = s[i++];
  int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
  uint32_t cp = extra == 3 ? (c & 0x07) : extra == 2 ? (c & 0x0F) : extra == 1 ? (c & 0x1F) : c;
  while (extra-- > 0 && i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80)
    cp = (cp << 6) | (static_cast<unsigned char>(s[i++]) & 0x3F);
  return cp;
}

bool is_cjk(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0xAC00 && cp <= 0xD7AF) ||
         (cp >= 0xF900 && cp <= 0xFAFF);
}

// Letters beyond ASCII (accents, Cyrillic, Greek...) join words; CJK and symbol blocks do not.
bool is_word_char(uint32_t cp) {
  if (cp < 0x80)
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
  return cp >= 0xC0 && cp < 0x2000 && cp != 0xD7 && cp != 0xF7;
}

constexpr uint64_t kFnvOffset = 1469598103934665603ULL;
constexpr uint64_t kFnvPrime = 1099511628211ULL;

// Hashes each unit (a lower-cased word, or one CJK character) as it is scanned: FNV-1a is
// sequential, so no word string is ever built.
std::vector<uint64_t> unit_hashes(std::string_view text) {
  std::vector<uint64_t> units;
  units.reserve(text.size() / 4);
  uint64_t word = kFnvOffset;
  bool in_word = false;
  auto flush = [&] {
    if (in_word) units.push_back(word);
    word = kFnvOffset;
    in_word = false;
  };
  for (size_t i = 0; i < text.size();) {
    const size_t start = i;
    const uint32_t cp = next_code_point(text, i);
    if (is_word_char(cp)) {
      if (cp < 0x80) {
        const unsigned char c = (cp >= 'A' && cp <= 'Z') ? static_cast<unsigned char>(cp + 32)
                                                         : static_cast<unsigned char>(cp);
        word = (word ^ c) * kFnvPrime;
      } else {
        for (size_t j = start; j < i; ++j)
          word = (word ^ static_cast<unsigned char>(text[j])) * kFnvPrime;
      }
      in_word = true;
    } else {
      flush();
      if (is_cjk(cp)) units.push_back(fnv1a(text.substr(start, i - start)));
    }
  }
  flush();
  return units;
}

// Term ids have 22 bits: two counting passes of 11 bits sort them in linear time (a long
// prompt has a thousand or more, where a comparison sort was a fifth of a query's time).
void sort_term_ids(std::vector<uint32_t>& ids) {
  static_assert(kTermBuckets == 1u << 22);
  if (ids.size() < 256) return std::sort(ids.begin(), ids.end());
  constexpr uint32_t kBits = 11, kRadix = 1u << kBits;
  std::vector<uint32_t> tmp(ids.size());
  for (uint32_t shift : {0u, kBits}) {
    std::vector<uint32_t> start(kRadix + 1, 0);
    for (uint32_t id : ids) ++start[((id >> shift) & (kRadix - 1)) + 1];
    for (uint32_t b = 0; b < kRadix; ++b) start[b + 1] += start[b];
    for (uint32_t id : ids) tmp[start[(id >> shift) & (kRadix - 1)]++] = id;
    ids.swap(tmp);
  }
}

}  // namespace

TermCounts count_terms(std::string_view text) {
  const auto units = unit_hashes(text);
  std::vector<uint32_t> ids;
  ids.reserve(units.size() * 2);
  for (size_t i = 0; i < units.size(); ++i) {
    ids.push_back(fold(units[i]));
    if (i + 1 < units.size())
      ids.push_back(fold((units[i] * 31) ^ (units[i + 1] + 0x9E3779B97F4A7C15ULL)));
  }
  sort_term_ids(ids);
  TermCounts counts;
  for (uint32_t id : ids) {
    if (!counts.empty() && counts.back().first == id)
      ++counts.back().second;
    else
      counts.emplace_back(id, 1);
  }
  return counts;
}

void TfidfEmbedder::fit(const std::vector<std::string>& corpus) {
  std::vector<TermCounts> docs;
  docs.reserve(corpus.size());
  for (const auto& text : corpus) docs.push_back(count_terms(text));
  fit_counts(docs);
}

void TfidfEmbedder::fit_counts(const std::vector<TermCounts>& docs) {
  df_.assign(kTermBuckets, 0);
  documents_ = docs.size();
  for (const auto& doc : docs)
    for (const auto& [id, count] : doc) ++df_[id];
}

void TfidfEmbedder::restore(uint64_t documents, std::vector<uint32_t> df) {
  if (df.size() != kTermBuckets) throw Error("tf-idf table of the wrong size");
  documents_ = documents;
  df_ = std::move(df);
}

std::vector<SparseVec> TfidfEmbedder::embed_all(const std::vector<std::string>& texts) const {
  // Threads only for a big batch (a bank): starting and joining one costs more than embedding
  // a SMACS round's few replies, and the gateway scores those on the backends' shared I/O
  // thread, where waiting for two new threads per round stalled every pass-through request.
  constexpr size_t kThreadsFromBytes = size_t{1} << 20;
  size_t bytes = 0;
  for (const auto& t : texts) bytes += t.size();
  std::vector<SparseVec> out(texts.size());
  parallel_for(
      texts.size(), [&](size_t i) { out[i] = embed(texts[i]); },
      bytes >= kThreadsFromBytes ? 0 : 1);
  return out;
}

SparseVec TfidfEmbedder::weigh(const TermCounts& counts) const {
  SparseVec v;
  v.idx.reserve(counts.size());
  v.val.reserve(counts.size());
  const double n = static_cast<double>(documents_);
  const double df_limit = max_df_ * n;
  for (const auto& [id, tf] : counts) {
    const uint32_t df = df_.empty() ? 0 : df_[id];
    if (df == 0 || (max_df_ < 1.0 && df > df_limit)) continue;
    const double idf = std::log((1.0 + n) / (1.0 + df)) + 1.0;
    v.idx.push_back(id);
    v.val.push_back(static_cast<float>((1.0 + std::log(double(tf))) * idf));
  }
  l2_normalize(v);
  return v;
}

}  // namespace smacs
