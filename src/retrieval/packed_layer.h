// The bottom layer of an HNSW graph packed for its search (issue 30). A search spends its time
// waiting for memory: hnswlib's reads, per step, a node's link list and then each new
// neighbour's 4 KiB float row (1,024 dimensions), all at random places. Here every node is one
// row of 1.2 KiB: its links and an int8 code of its vector, so a step reads a quarter of the
// bytes, and a node's links arrive with its code (read when it was scored, before it is
// expanded). Similarities come from the codes: within 0.002 of the float ones (measured at
// 1,000,000 x 1,024: mean 0.0003). The float graph stays hnswlib's, for inserts and the file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace smacs {

class PackedLayer {
 public:
  // A query as the rows' codes are read: its codes (and, for the VNNI kernel, shifted to
  // unsigned) times its scale.
  struct Query {
    std::vector<int8_t> code;
    std::vector<uint8_t> shifted;
    float scale = 0;
  };
  // One search's "seen" marks over the node ids (hnswlib's visited list: tag[id] == mark).
  struct Marks {
    unsigned short* tag;
    unsigned short mark;
  };

  PackedLayer(size_t dim, size_t max_links);

  void reserve(size_t rows);
  // Node `id` (an existing one, or the next: rows come in id order) with its row id, unit
  // vector and links.
  void set_node(uint32_t id, uint32_t row, const float* unit, const uint32_t* links, size_t n);
  // Node `id`'s links again (an insert re-links its neighbours).
  void set_links(uint32_t id, const uint32_t* links, size_t n);

  Query encode(const std::vector<float>& unit) const;
  // 1 - the similarity the codes give (a distance: smaller is nearer, as hnswlib's).
  float distance(const Query& q, uint32_t id) const;
  uint32_t row(uint32_t id) const;
  // hnswlib's bottom-layer search: from `entry`, the `ef` nearest nodes it finds, as
  // (distance, node), nearest first.
  std::vector<std::pair<float, uint32_t>> search(const Query& q, uint32_t entry, size_t ef,
                                                 Marks marks) const;

 private:
  struct Free {
    void operator()(char* p) const;
  };
  char* at(uint32_t id) const { return data_.get() + size_t{id} * row_bytes_; }
  void prefetch(uint32_t id) const;

  size_t dim_, max_links_;
  size_t codes_at_, row_bytes_;  // where a row's codes start; a row's size (cache lines)
  std::unique_ptr<char, Free> data_;
  size_t nodes_ = 0, capacity_ = 0;
};

}  // namespace smacs
