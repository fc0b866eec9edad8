#include <algorithm>

#include "train/task.h"

namespace vitrine::train {

std::vector<double> RankGroup::gather(const std::vector<double>& values) const {
  if (!sum) return values;
  // Sizes first (each rank fills its own slot), then everyone's values at their offsets.
  std::vector<double> sizes(static_cast<size_t>(world_size), 0.0);
  sizes[static_cast<size_t>(rank)] = static_cast<double>(values.size());
  sizes = sum(sizes);
  size_t offset = 0, total = 0;
  for (int r = 0; r < world_size; ++r) {
    const auto n = static_cast<size_t>(sizes[static_cast<size_t>(r)]);
    if (r < rank) offset += n;
    total += n;
  }
  std::vector<double> all(total, 0.0);
  std::copy(values.begin(), values.end(), all.begin() + static_cast<std::ptrdiff_t>(offset));
  return sum(all);
}

}  // namespace vitrine::train
