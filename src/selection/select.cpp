#include "selection/select.h"

#include <algorithm>
#include <numeric>

namespace smacs {

uint64_t SplitMix64::next() {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double SplitMix64::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

uint64_t mix_seed(uint64_t seed, std::string_view key) {
  uint64_t h = 1469598103934665603ULL ^ seed;
  for (unsigned char c : key) h = (h ^ c) * 1099511628211ULL;
  SplitMix64 g{h};
  return g.next();
}

Selection select_models(const std::vector<double>& proxy, size_t k, double p_drop, uint64_t seed) {
  Selection sel;
  sel.ranked.resize(proxy.size());
  std::iota(sel.ranked.begin(), sel.ranked.end(), 0);
  std::stable_sort(sel.ranked.begin(), sel.ranked.end(),
                   [&](int a, int b) { return proxy[a] > proxy[b]; });
  k = std::min(k, proxy.size());
  std::vector<int> outside(sel.ranked.begin() + static_cast<long>(k), sel.ranked.end());
  SplitMix64 rng{seed};
  for (size_t i = 0; i < k; ++i) {
    const int model = sel.ranked[i];
    if (i == 0 || outside.empty() || p_drop <= 0 || rng.uniform() >= p_drop) {
      sel.selected.push_back(model);
      continue;
    }
    double total = 0;
    for (int o : outside) total += std::max(0.0, proxy[o]);
    size_t pick = 0;
    if (total > 0) {
      double r = rng.uniform() * total;
      while (pick + 1 < outside.size() && (r -= std::max(0.0, proxy[outside[pick]])) >= 0) ++pick;
    } else {
      pick = static_cast<size_t>(rng.uniform() * static_cast<double>(outside.size()));
    }
    sel.dropped.push_back(model);
    sel.replacements.push_back(outside[pick]);
    sel.selected.push_back(outside[pick]);
    outside.erase(outside.begin() + static_cast<long>(pick));
  }
  return sel;
}

}  // namespace smacs
