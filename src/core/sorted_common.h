// The size of the intersection of two sorted sequences (as multisets: a value twice in both
// counts twice), by one merge pass: how word-overlap similarities compare hashed words.
#pragma once
#include <cstddef>
#include <vector>

namespace smacs {

template <class T>
size_t count_common(const std::vector<T>& a, const std::vector<T>& b) {
  size_t common = 0;
  for (size_t i = 0, j = 0; i < a.size() && j < b.size();) {
    if (a[i] == b[j]) {
      ++common, ++i, ++j;
    } else if (a[i] < b[j]) {
      ++i;
    } else {
      ++j;
    }
  }
  return common;
}

}  // namespace smacs
