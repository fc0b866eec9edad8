// timm's make_divisible: channel counts rounded to a multiple of `divisor`, never below
// `min_value` (default: divisor) nor below round_limit of the request.
#pragma once

#include <algorithm>
#include <cstdint>

namespace vitrine::layers {

inline int64_t make_divisible(double value, int64_t divisor = 8, int64_t min_value = 0,
                              double round_limit = 0.9) {
  const int64_t floor = min_value > 0 ? min_value : divisor;
  int64_t rounded =
      std::max(floor, static_cast<int64_t>(value + divisor / 2.0) / divisor * divisor);
  if (static_cast<double>(rounded) < round_limit * value) rounded += divisor;
  return rounded;
}

}  // namespace vitrine::layers
