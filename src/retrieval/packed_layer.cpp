#include "retrieval/packed_layer.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <queue>

#include "core/error.h"
#include "retrieval/int8_code.h"

#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
#include <immintrin.h>
#endif

namespace smacs {

namespace {

// A row: its code's scale (float), the sum of its codes (int32), its row id (uint32), its link
// count (uint32), its links (uint32 each), then, from a cache line's start, its codes.
constexpr size_t kScale = 0, kSum = 4, kRow = 8, kCount = 12, kLinks = 16;
constexpr size_t kLine = 64;
constexpr size_t kHugePage = size_t{2} << 20;

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

template <class T>
T get(const char* p) {
  T x;
  std::memcpy(&x, p, sizeof x);
  return x;
}

// codes . query; with AVX-512 VNNI (a SMACS_NATIVE build on such a CPU) vpdpbusd, which
// multiplies unsigned by signed bytes: the query's codes come shifted by 128, and 128 times
// the row's code sum is taken off again.
int32_t dot(const PackedLayer::Query& q, const int8_t* codes, int32_t sum, size_t dim) {
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
  if (dim % 128 == 0) {
    __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
    for (size_t i = 0; i < dim; i += 128) {
      acc0 = _mm512_dpbusd_epi32(acc0, _mm512_loadu_si512(q.shifted.data() + i),
                                 _mm512_loadu_si512(codes + i));
      acc1 = _mm512_dpbusd_epi32(acc1, _mm512_loadu_si512(q.shifted.data() + i + 64),
                                 _mm512_loadu_si512(codes + i + 64));
    }
    // (Summed by hand: GCC 12's _mm512_reduce_add_epi32 trips -Wuninitialized.)
    alignas(64) int32_t lanes[16];
    _mm512_store_si512(lanes, _mm512_add_epi32(acc0, acc1));
    int32_t total = 0;
    for (const int32_t lane : lanes) total += lane;
    return total - 128 * sum;
  }
#endif
  (void)sum;
  return dot_int8(q.code.data(), codes, dim);
}

}  // namespace

void PackedLayer::Free::operator()(char* p) const { std::free(p); }

PackedLayer::PackedLayer(size_t dim, size_t max_links)
    : dim_(dim),
      max_links_(max_links),
      codes_at_(round_up(kLinks + 4 * max_links, kLine)),
      row_bytes_(round_up(codes_at_ + dim, kLine)) {}

// Rows live in 2 MiB-aligned memory marked for huge pages: a search's reads land at random in
// a gigabyte, and with 4 KiB pages nearly every one also misses the TLB (p50 0.64 against
// 0.78 ms with hnswlib's own search at 1M, measured).
void PackedLayer::reserve(size_t rows) {
  if (rows <= capacity_) return;
  const size_t bytes = round_up(std::max<size_t>(rows * row_bytes_, 1), kHugePage);
  std::unique_ptr<char, Free> grown(static_cast<char*>(std::aligned_alloc(kHugePage, bytes)));
  if (!grown) throw std::bad_alloc();
  madvise(grown.get(), bytes, MADV_HUGEPAGE);  // advice: a kernel without THP ignores it
  if (nodes_) std::memcpy(grown.get(), data_.get(), nodes_ * row_bytes_);
  data_ = std::move(grown);
  capacity_ = bytes / row_bytes_;
}

void PackedLayer::set_node(uint32_t id, uint32_t row, const float* unit, const uint32_t* links,
                           size_t n) {
  if (id > nodes_) throw Error("PackedLayer: nodes must come in id order");
  if (id == nodes_) {
    if (nodes_ == capacity_) reserve(std::max<size_t>(2 * capacity_, 1024));
    ++nodes_;
  }
  char* p = at(id);
  std::memset(p, 0, row_bytes_);
  auto* codes = reinterpret_cast<int8_t*>(p + codes_at_);
  const Int8Code code = quantize(unit, dim_, codes);
  int32_t sum = 0;
  for (size_t i = 0; i < dim_; ++i) sum += codes[i];
  std::memcpy(p + kScale, &code.scale, 4);
  std::memcpy(p + kSum, &sum, 4);
  std::memcpy(p + kRow, &row, 4);
  set_links(id, links, n);
}

void PackedLayer::set_links(uint32_t id, const uint32_t* links, size_t n) {
  n = std::min(n, max_links_);
  const auto count = static_cast<uint32_t>(n);
  std::memcpy(at(id) + kCount, &count, 4);
  std::memcpy(at(id) + kLinks, links, 4 * n);
}

PackedLayer::Query PackedLayer::encode(const std::vector<float>& unit) const {
  Query q;
  q.code.resize(dim_);
  q.scale = quantize(unit.data(), dim_, q.code.data()).scale;
  q.shifted.resize(dim_);
  for (size_t i = 0; i < dim_; ++i) q.shifted[i] = static_cast<uint8_t>(q.code[i] + 128);
  return q;
}

float PackedLayer::distance(const Query& q, uint32_t id) const {
  const char* p = at(id);
  const auto* codes = reinterpret_cast<const int8_t*>(p + codes_at_);
  const int32_t d = dot(q, codes, get<int32_t>(p + kSum), dim_);
  return 1.0f - q.scale * get<float>(p + kScale) * static_cast<float>(d);
}

uint32_t PackedLayer::row(uint32_t id) const { return get<uint32_t>(at(id) + kRow); }

void PackedLayer::prefetch(uint32_t id) const {
  const char* p = at(id);
  for (size_t line = 0; line < row_bytes_; line += kLine) __builtin_prefetch(p + line);
}

// A node's unseen neighbours are all asked from memory first, then scored: their reads overlap
// instead of waiting one after another.
std::vector<std::pair<float, uint32_t>> PackedLayer::search(const Query& q, uint32_t entry,
                                                            size_t ef, Marks marks) const {
  using Scored = std::pair<float, uint32_t>;
  std::priority_queue<Scored> best;                                       // farthest on top
  std::priority_queue<Scored, std::vector<Scored>, std::greater<>> todo;  // nearest on top
  const float d0 = distance(q, entry);
  best.push({d0, entry});
  todo.push({d0, entry});
  marks.tag[entry] = marks.mark;
  std::vector<uint32_t> fresh(max_links_);
  while (!todo.empty()) {
    const auto [d, node] = todo.top();
    if (d > best.top().first && best.size() >= ef) break;
    todo.pop();
    const char* p = at(node);
    const size_t n = std::min<size_t>(get<uint32_t>(p + kCount), max_links_);
    size_t m = 0;
    for (size_t j = 0; j < n; ++j) {
      const uint32_t x = get<uint32_t>(p + kLinks + 4 * j);
      if (marks.tag[x] == marks.mark) continue;
      marks.tag[x] = marks.mark;
      fresh[m++] = x;
      prefetch(x);
    }
    for (size_t j = 0; j < m; ++j) {
      const float dx = distance(q, fresh[j]);
      if (best.size() < ef || dx < best.top().first) {
        todo.push({dx, fresh[j]});
        best.push({dx, fresh[j]});
        if (best.size() > ef) best.pop();
      }
    }
  }
  std::vector<Scored> out(best.size());
  for (size_t i = out.size(); i-- > 0; best.pop()) out[i] = best.top();
  return out;
}

}  // namespace smacs
