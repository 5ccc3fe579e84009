// Dense embeddings held densely: one contiguous row-major float matrix of unit rows, searched
// exactly (HNSW on the same vectors: hnsw_index.cpp). (A dense vector as a SparseVec would cost
// the inverted index a posting in every dimension of every row.)
//
// The exact search reads the rows as int8 codes first, a quarter of the float matrix's bytes
// (the scan is bound by memory bandwidth), and knows how far each code's similarity can be from
// the true one; only the rows that could still be among the n best are scored again from the
// floats, so the answer is the exact one.
#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>

#include "core/error.h"
#include "core/mapped_file.h"
#include "retrieval/index.h"
#include "retrieval/int8_code.h"

namespace smacs {

std::vector<float> unit_dense(const SparseVec& v, size_t dim) {
  std::vector<float> out(dim, 0.0f);
  for (size_t i = 0; i < v.idx.size(); ++i)
    if (v.idx[i] < dim) out[v.idx[i]] = v.val[i];
  make_unit(out);
  return out;
}

void make_unit(std::vector<float>& v) {
  double norm = 0;
  for (float x : v) norm += double(x) * x;
  if (norm > 0)
    for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
}

namespace {

// The n best of `scored` (most similar first, ties by row id), `exclude` left out.
std::vector<Neighbor> top_n(std::vector<Neighbor> scored, size_t n, uint32_t exclude) {
  if (exclude != kNoRow) std::erase_if(scored, [&](const Neighbor& x) { return x.row == exclude; });
  n = std::min(n, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(n), scored.end(),
                    more_similar);
  scored.resize(n);
  return scored;
}

using Code = Int8Code;  // each row's, saved as it is in memory

// The saved index: kDenseMagic, rows and width (uint64), then the float rows, each row's Code
// and the int8 codes, as they are in memory (native little-endian, x86-64; every part aligned
// for its type in a page-aligned mapping).
constexpr char kDenseMagic[8] = {'S', 'M', 'D', 'E', 'N', 'S', 'E', '1'};
constexpr size_t kHeader = 24;

// A run of consecutive rows: their floats, Codes and int8 codes.
struct Rows {
  const float* matrix = nullptr;
  const Code* code = nullptr;
  const int8_t* codes = nullptr;
  size_t n = 0;
};

class DenseExactIndex : public NeighborIndex {
 public:
  DenseExactIndex(const std::vector<SparseVec>& rows, size_t dim) : dim_(dim) {
    matrix_.reserve(rows.size() * dim_);
    codes_.reserve(rows.size() * dim_);
    for (const auto& r : rows) add(r);
  }

  // What save_dense() wrote, used in place (mapped): its size is checked against its header.
  DenseExactIndex(const std::string& path, size_t dim) : dim_(dim), file_(map_file(path)) {
    uint64_t header[2] = {0, 0};  // rows, width
    if (!file_ || file_->size < kHeader || std::memcmp(file_->data, kDenseMagic, 8) != 0)
      throw Error(path + ": not a dense index file");
    std::memcpy(header, file_->data + 8, sizeof header);
    const uint64_t rows = header[0];
    if (header[1] != dim || rows > (uint64_t{1} << 32))
      throw Error(path + ": not a dense index of " + std::to_string(dim) + " dimensions");
    if (file_->size != kHeader + rows * (dim * (sizeof(float) + 1) + sizeof(Code)))
      throw Error(path + ": the dense index file is cut short or too long");
    const char* p = file_->data + kHeader;
    saved_.matrix = reinterpret_cast<const float*>(p);
    saved_.code = reinterpret_cast<const Code*>(p + rows * dim * sizeof(float));
    saved_.codes = reinterpret_cast<const int8_t*>(p + rows * (dim * sizeof(float) + sizeof(Code)));
    saved_.n = rows;
  }

  size_t dense_width() const override { return dim_; }

  void save_dense(const std::string& path) const override {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
    bool ok = f != nullptr;
    auto put = [&](const void* data, size_t bytes) {
      ok = ok && std::fwrite(data, 1, bytes, f.get()) == bytes;
    };
    const uint64_t header[2] = {size(), dim_};
    put(kDenseMagic, 8);
    put(header, sizeof header);
    for (const Rows& r : runs()) put(r.matrix, r.n * dim_ * sizeof(float));
    for (const Rows& r : runs()) put(r.code, r.n * sizeof(Code));
    for (const Rows& r : runs()) put(r.codes, r.n * dim_);
    if (!ok || std::fflush(f.get()) != 0) throw Error(path + ": writing the dense index failed");
  }

  void add(const SparseVec& row) override {
    const auto unit = unit_dense(row, dim_);
    matrix_.insert(matrix_.end(), unit.begin(), unit.end());
    codes_.resize(codes_.size() + dim_);
    code_.push_back(quantize(unit.data(), dim_, codes_.data() + codes_.size() - dim_));
  }

  // With x' = x + e (the code) and q' = q + f: |x'.q' - x.q| <= |e| + |f| + |e||f| for unit
  // x and q. A row whose upper bound is below the n-th best lower bound cannot be in the top n.
  std::vector<Neighbor> search(const SparseVec& q, size_t n, uint32_t exclude) const override {
    const size_t rows = size();
    const size_t wanted = std::min(n, rows - (exclude < rows ? 1 : 0));
    if (wanted == 0) return {};
    const auto unit = unit_dense(q, dim_);
    std::vector<int8_t> query(dim_);
    const Code qc = quantize(unit.data(), dim_, query.data());
    std::vector<float> lows(rows), upper(rows);  // each row's bounds
    size_t r = 0;
    for (const Rows& run : runs())
      for (size_t i = 0; i < run.n; ++i, ++r) {
        const Code& c = run.code[i];
        const float approx =
            static_cast<float>(dot_int8(run.codes + i * dim_, query.data(), dim_)) * c.scale *
            qc.scale;
        const float slack = c.error + qc.error + c.error * qc.error + 1e-5f;
        lows[r] = approx - slack;
        upper[r] = approx + slack;
      }
    if (exclude < rows) lows[exclude] = -std::numeric_limits<float>::infinity();
    std::nth_element(lows.begin(), lows.begin() + static_cast<std::ptrdiff_t>(wanted - 1),
                     lows.end(), std::greater<>());
    const float cut = lows[wanted - 1];
    const Eigen::Map<const Eigen::VectorXf> qv(unit.data(), static_cast<Eigen::Index>(dim_));
    std::vector<Neighbor> scored;
    for (size_t x = 0; x < rows; ++x) {
      if (upper[x] < cut || x == exclude) continue;
      const Eigen::Map<const Eigen::VectorXf> row(row_floats(x), static_cast<Eigen::Index>(dim_));
      scored.push_back({static_cast<uint32_t>(x), row.dot(qv)});
    }
    return top_n(std::move(scored), n, kNoRow);
  }

  size_t size() const override { return saved_.n + code_.size(); }

 private:
  // The saved rows (mapped; none for an index built from vectors), then the added ones.
  std::array<Rows, 2> runs() const {
    return {saved_, Rows{matrix_.data(), code_.data(), codes_.data(), code_.size()}};
  }
  const float* row_floats(size_t r) const {
    return r < saved_.n ? saved_.matrix + r * dim_ : matrix_.data() + (r - saved_.n) * dim_;
  }

  size_t dim_;
  std::shared_ptr<const MappedFile> file_;  // holds saved_'s rows
  Rows saved_;
  std::vector<float> matrix_;  // added rows x dim_, row-major, unit rows
  std::vector<int8_t> codes_;  // the same as int8 codes
  std::vector<Code> code_;     // each added row's scale and error
};

}  // namespace

size_t dense_dim(const std::vector<SparseVec>& rows) {
  if (rows.empty() || !is_dense(rows[0])) return 0;
  const size_t dim = rows[0].idx.size();
  for (const auto& r : rows)
    if (r.idx.size() != dim || !is_dense(r)) return 0;
  return dim;
}

std::unique_ptr<NeighborIndex> make_dense_exact_index(const std::vector<SparseVec>& rows,
                                                      size_t dim) {
  return std::make_unique<DenseExactIndex>(rows, dim);
}

std::unique_ptr<NeighborIndex> load_dense_exact_index(const std::string& path, size_t dim) {
  return std::make_unique<DenseExactIndex>(path, dim);
}

void NeighborIndex::save_dense(const std::string&) const {
  throw Error("only a dense index can be saved on its own");
}

}  // namespace smacs
