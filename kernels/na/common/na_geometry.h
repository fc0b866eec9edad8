// A neighborhood-attention problem as plain data for kernels: sizes in the canonical
// three-axis form of na_problem.h (1-D and 2-D problems have leading axes of length 1 with
// K = d = 1), plus the token-level index rules built on na_index.h. Torch-free and
// __host__ __device__, so the CUDA kernels and the CPU tests run the very same arithmetic.
//
// Flat layouts (all contiguous): q, k [B*heads][tokens][dim]; v, out [B*heads][tokens]
// [value_dim]; attn [B*heads][tokens][window]; rpb [heads][E0][E1][E2] with E = 2K - 1.
// Tokens are row-major over (L0, L1, L2); window slots row-major over (K0, K1, K2).
#pragma once

#include <cstdint>

#include "na/common/na_index.h"

namespace vitrine::attention::na {

struct Geometry {
  int64_t batch = 1, heads = 1, dim = 1, value_dim = 1;
  int64_t length[3] = {1, 1, 1};
  int64_t kernel[3] = {1, 1, 1};
  int64_t dilation[3] = {1, 1, 1};
  bool causal[3] = {false, false, false};

  VITRINE_HD int64_t tokens() const { return length[0] * length[1] * length[2]; }
  VITRINE_HD int64_t window_size() const { return kernel[0] * kernel[1] * kernel[2]; }
  VITRINE_HD int64_t bias_extent(int axis) const { return 2 * kernel[axis] - 1; }
  VITRINE_HD int64_t bias_size() const { return bias_extent(0) * bias_extent(1) * bias_extent(2); }
  VITRINE_HD int64_t batch_heads() const { return batch * heads; }
};

struct Coord3 {
  int64_t at[3];
};

VITRINE_HD Coord3 token_coord(const Geometry& g, int64_t token) {
  Coord3 c;
  c.at[2] = token % g.length[2];
  token /= g.length[2];
  c.at[1] = token % g.length[1];
  c.at[0] = token / g.length[1];
  return c;
}

VITRINE_HD int64_t token_index(const Geometry& g, const Coord3& c) {
  return (c.at[0] * g.length[1] + c.at[1]) * g.length[2] + c.at[2];
}

// Window of query `i` on `axis`.
VITRINE_HD Span axis_window(const Geometry& g, int axis, int64_t i) {
  return window(i, g.length[axis], g.kernel[axis], g.dilation[axis], g.causal[axis]);
}

// Queries whose window holds key `j` on `axis`.
VITRINE_HD Span axis_inverse_window(const Geometry& g, int axis, int64_t j) {
  return inverse_window(j, g.length[axis], g.kernel[axis], g.dilation[axis], g.causal[axis]);
}

// Key of window slot `slot` (row-major over the kernel) of query `i`; false when a causal
// window does not reach that slot.
VITRINE_HD bool slot_key(const Geometry& g, const Coord3& i, int64_t slot, Coord3& j) {
  int64_t per_axis[3];
  per_axis[2] = slot % g.kernel[2];
  slot /= g.kernel[2];
  per_axis[1] = slot % g.kernel[1];
  per_axis[0] = slot / g.kernel[1];
  for (int a = 0; a < 3; ++a) {
    const Span w = axis_window(g, a, i.at[a]);
    if (per_axis[a] >= w.count) return false;
    j.at[a] = w.first + per_axis[a] * g.dilation[a];
  }
  return true;
}

// Window slot of key `j` in the window of query `i` (j must be in that window).
VITRINE_HD int64_t key_slot(const Geometry& g, const Coord3& i, const Coord3& j) {
  int64_t s = 0;
  for (int a = 0; a < 3; ++a)
    s = s * g.kernel[a] + slot(j.at[a], axis_window(g, a, i.at[a]).first, g.dilation[a]);
  return s;
}

// Offset of the bias cell of (query i, key j) inside one head's [E0][E1][E2] table.
VITRINE_HD int64_t bias_offset(const Geometry& g, const Coord3& i, const Coord3& j) {
  int64_t o = 0;
  for (int a = 0; a < 3; ++a)
    o = o * g.bias_extent(a) + bias_index(i.at[a], j.at[a], g.kernel[a], g.dilation[a]);
  return o;
}

// Position `p` of an axis as (dilation group, coordinate inside the group) and back.
VITRINE_HD int64_t group_of(int64_t p, int64_t dilation) {
  return p % dilation;
}
VITRINE_HD int64_t in_group(int64_t p, int64_t dilation) {
  return p / dilation;
}
VITRINE_HD int64_t from_group(int64_t coordinate, int64_t group, int64_t dilation) {
  return coordinate * dilation + group;
}

}  // namespace vitrine::attention::na
