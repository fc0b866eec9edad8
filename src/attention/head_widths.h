// timm's rule for the per-head widths of its 2-D self-attention layers (halo, bottleneck,
// lambda): values split dim_out over the heads; queries/keys are dim_head wide, or
// make_divisible(dim_out * qk_ratio, 8) / heads when dim_head is 0. Checks the sizes and
// names the module in its errors.
#pragma once

#include <c10/util/Exception.h>

#include <cstdint>

#include "layers/make_divisible.h"

namespace vitrine::attention {

struct HeadWidths {
  int64_t qk = 0;  // query/key width per head
  int64_t v = 0;   // value width per head
};

inline HeadWidths head_widths(const char* module, int64_t dim, int64_t dim_out, int64_t num_heads,
                              int64_t dim_head, double qk_ratio, int64_t stride) {
  TORCH_CHECK(dim > 0 && num_heads > 0, module, ": dim and num_heads must be positive");
  TORCH_CHECK(dim_out % num_heads == 0, module, ": dim_out ", dim_out,
              " is not divisible by num_heads ", num_heads);
  TORCH_CHECK(stride == 1 || stride == 2, module, ": stride must be 1 or 2, got ", stride);
  HeadWidths w;
  w.qk = dim_head > 0
             ? dim_head
             : layers::make_divisible(static_cast<double>(dim_out) * qk_ratio, 8) / num_heads;
  w.v = dim_out / num_heads;
  return w;
}

}  // namespace vitrine::attention
