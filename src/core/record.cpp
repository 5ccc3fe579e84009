#include "core/record.h"

#include <algorithm>

namespace smacs {

bool Dataset::has_responses() const {
  return std::any_of(records.begin(), records.end(),
                     [](const Record& r) { return !r.responses.empty(); });
}

int Dataset::model_index(const std::string& name) const {
  auto it = std::find(models.begin(), models.end(), name);
  return it == models.end() ? -1 : static_cast<int>(it - models.begin());
}

namespace {
// Moves a per-model vector from the `from` column order into the `to` order.
template <typename T>
std::vector<T> remap(std::vector<T>& values, const std::vector<int>& column_of, size_t width,
                     T fill) {
  if (values.empty()) return {};
  std::vector<T> out(width, fill);
  for (size_t i = 0; i < values.size(); ++i) out[column_of[i]] = std::move(values[i]);
  return out;
}
}  // namespace

void merge_into(Dataset& into, Dataset other) {
  std::vector<int> column_of;
  for (const auto& m : other.models) {
    int idx = into.model_index(m);
    if (idx < 0) {
      idx = static_cast<int>(into.models.size());
      into.models.push_back(m);
    }
    column_of.push_back(idx);
  }
  const size_t width = into.models.size();
  const bool widened = !into.records.empty() && into.records.front().scores.size() != width;
  for (auto& r : into.records) {  // earlier records gain the new (missing) columns
    if (!widened) break;
    r.scores.resize(width, kMissing);
    if (!r.responses.empty()) r.responses.resize(width);
    if (!r.costs.empty()) r.costs.resize(width, kMissing);
  }
  for (auto& r : other.records) {
    r.scores = remap(r.scores, column_of, width, kMissing);
    r.responses = remap(r.responses, column_of, width, std::string());
    r.costs = remap(r.costs, column_of, width, kMissing);
    into.records.push_back(std::move(r));
  }
}

}  // namespace smacs
