#include "models/backbones/nat_complexity.h"

#include <algorithm>

namespace vitrine::models {
namespace {

double norm_flops(double elements) {
  return 5 * elements;
}
int64_t hidden_width(int64_t dim, double mlp_ratio) {
  return static_cast<int64_t>(static_cast<double>(dim) * mlp_ratio);
}

}  // namespace

int64_t nat_parameter_count(const NATConfig& c) {
  const bool nat_layout = c.layout == NATLayout::kNAT;
  const int64_t C = c.embed_dim, E = 2 * c.kernel_size - 1;
  const int64_t S = c.stem_hidden();
  int64_t total = nat_layout
                      ? c.in_chans * S * 9 + S + S * C * 9 + C + c.stem_convs * (S * S * 9 + S)
                      : c.in_chans * C * 16 + C;
  total += 2 * C;  // stem norm
  for (size_t i = 0; i < c.depths.size(); ++i) {
    const int64_t dim = C << i, hidden = hidden_width(dim, c.mlp_ratio);
    int64_t layer = 2 * dim + 2 * dim;                                             // norm1, norm2
    layer += dim * 3 * dim + (c.qkv_bias ? 3 * dim : 0);                           // qkv
    layer += c.num_heads[i] * E * E;                                               // rpb
    layer += dim * dim + dim;                                                      // proj
    layer += dim * hidden + hidden + hidden * dim + dim;                           // mlp
    if (c.mlp_dwconv > 0) layer += hidden * c.mlp_dwconv * c.mlp_dwconv + hidden;  // depthwise
    if (c.cpe > 0) layer += dim * c.cpe * c.cpe + dim;                             // cpe
    if (c.layer_scale > 0) layer += 2 * dim;                                       // gamma1, gamma2
    total += layer * c.depths[i];
    if (i + 1 < c.depths.size())
      total += nat_layout ? dim * 2 * dim * 9 + 2 * 2 * dim   // conv (no bias) + norm(2C)
                          : 2 * 4 * dim + 4 * dim * 2 * dim;  // norm(4C) + linear (no bias)
  }
  const int64_t features = C << (c.depths.size() - 1);
  total += 2 * features;
  if (c.num_classes > 0) total += features * c.num_classes + c.num_classes;
  return total;
}

double nat_flops(const NATConfig& c, int64_t img_size) {
  const bool nat_layout = c.layout == NATLayout::kNAT;
  const double C = static_cast<double>(c.embed_dim);
  double total = 0;
  int64_t side = 0;
  if (nat_layout) {
    const int64_t s1 = halve_side(img_size);
    side = c.stem_stride == 4 ? halve_side(s1) : s1;
    const double hidden = double(c.stem_hidden());
    total += double(s1 * s1) * c.in_chans * hidden * 9 + double(side * side) * hidden * C * 9;
    total += double(c.stem_convs) * double(s1 * s1) * hidden * hidden * 9;
  } else {
    side = (img_size + 3) / 4;
    total += double(side * side) * c.in_chans * C * 16;
  }
  total += norm_flops(double(side * side) * C);
  const double K2 = double(c.kernel_size * c.kernel_size);
  for (size_t i = 0; i < c.depths.size(); ++i) {
    const double dim = C * double(int64_t{1} << i);
    const double tokens = double(side * side);
    const double hidden = double(hidden_width(static_cast<int64_t>(dim), c.mlp_ratio));
    for (int64_t j = 0; j < c.depths[i]; ++j) {
      const int64_t window = c.kernel_size * c.dilation(i, static_cast<size_t>(j));
      const double padded = double(std::max(side, window) * std::max(side, window));
      total += norm_flops(2 * tokens * dim);
      total += padded * dim * 3 * dim;                                 // qkv
      total += padded * dim * K2 + padded * c.num_heads[i] * K2;       // q·k + bias
      total += padded * dim * K2;                                      // a·v
      total += tokens * dim * dim;                                     // proj
      total += tokens * 2 * dim * hidden;                              // mlp
      total += tokens * hidden * double(c.mlp_dwconv * c.mlp_dwconv);  // its depthwise conv
      total += tokens * dim * double(c.cpe * c.cpe);                   // cpe
    }
    if (i + 1 < c.depths.size()) {
      const int64_t next = halve_side(side);
      const double out_tokens = double(next * next);
      total += nat_layout ? out_tokens * dim * 2 * dim * 9 + norm_flops(out_tokens * 2 * dim)
                          : norm_flops(out_tokens * 4 * dim) + out_tokens * 4 * dim * 2 * dim;
      side = next;
    }
  }
  const double features = C * double(int64_t{1} << (c.depths.size() - 1));
  total += norm_flops(double(side * side) * features);
  if (c.num_classes > 0) total += features * double(c.num_classes);
  return total;
}

}  // namespace vitrine::models
