// The two neighbourhood walks of the CPU kernels over a Geometry: every key in a query's
// window, and every query whose window holds a key (what dK/dV gather), each visit with its
// window slot and its cell of the relative-position-bias table. Host-only (the callbacks are
// lambdas); the index rules themselves are na_index.h's, shared with the CUDA kernels.
#pragma once

#include <algorithm>
#include <cstdint>

#include "na/common/na_geometry.h"

namespace vitrine::attention::na {

// Calls fn(slot, key_token, bias_cell) for every key in the window of query `i`.
template <typename Fn>
inline void for_each_key(const Geometry& g, const Coord3& i, Fn&& fn) {
  const int64_t* L = g.length;
  const int64_t* K = g.kernel;
  const int64_t* d = g.dilation;
  const int64_t E1 = g.bias_extent(1), E2 = g.bias_extent(2);
  Span w[3];
  for (int a = 0; a < 3; ++a) w[a] = axis_window(g, a, i.at[a]);
  for (int64_t k0 = 0; k0 < w[0].count; ++k0) {
    const int64_t j0 = w[0].first + k0 * d[0];
    const int64_t b0 = bias_index(i.at[0], j0, K[0], d[0]);
    for (int64_t k1 = 0; k1 < w[1].count; ++k1) {
      const int64_t j1 = w[1].first + k1 * d[1];
      const int64_t b1 = bias_index(i.at[1], j1, K[1], d[1]);
      const int64_t slot01 = (k0 * K[1] + k1) * K[2];
      const int64_t key01 = (j0 * L[1] + j1) * L[2];
      const int64_t bias01 = (b0 * E1 + b1) * E2;
      for (int64_t k2 = 0; k2 < w[2].count; ++k2) {
        const int64_t j2 = w[2].first + k2 * d[2];
        fn(slot01 + k2, key01 + j2, bias01 + bias_index(i.at[2], j2, K[2], d[2]));
      }
    }
  }
}

// Entries of scratch space for_each_query needs: per axis, the query positions of the inverse
// window and their slots.
inline int64_t inverse_scratch_size(const Geometry& g) {
  return 6 * 2 * std::max({g.kernel[0], g.kernel[1], g.kernel[2]});
}

// Calls fn(query_token, slot, bias_cell) for every query whose window holds key `j`;
// `scratch` has inverse_scratch_size(g) entries.
template <typename Fn>
inline void for_each_query(const Geometry& g, const Coord3& j, int64_t* scratch, Fn&& fn) {
  const int64_t* L = g.length;
  const int64_t* K = g.kernel;
  const int64_t* d = g.dilation;
  const int64_t E1 = g.bias_extent(1), E2 = g.bias_extent(2);
  const int64_t stride = inverse_scratch_size(g) / 6;
  int64_t count[3];
  int64_t* pos[3];
  int64_t* slots[3];
  for (int a = 0; a < 3; ++a) {
    pos[a] = scratch + (2 * a) * stride;
    slots[a] = scratch + (2 * a + 1) * stride;
    const Span inv = axis_inverse_window(g, a, j.at[a]);
    count[a] = inv.count;
    for (int64_t t = 0; t < inv.count; ++t) {
      const int64_t i = inv.first + t * d[a];
      pos[a][t] = i;
      slots[a][t] = slot(j.at[a], axis_window(g, a, i).first, d[a]);
    }
  }
  for (int64_t t0 = 0; t0 < count[0]; ++t0) {
    const int64_t i0 = pos[0][t0];
    const int64_t b0 = bias_index(i0, j.at[0], K[0], d[0]);
    for (int64_t t1 = 0; t1 < count[1]; ++t1) {
      const int64_t i1 = pos[1][t1];
      const int64_t b1 = bias_index(i1, j.at[1], K[1], d[1]);
      const int64_t query01 = (i0 * L[1] + i1) * L[2];
      const int64_t slot01 = (slots[0][t0] * K[1] + slots[1][t1]) * K[2];
      const int64_t bias01 = (b0 * E1 + b1) * E2;
      for (int64_t t2 = 0; t2 < count[2]; ++t2) {
        const int64_t i2 = pos[2][t2];
        fn(query01 + i2, slot01 + slots[2][t2], bias01 + bias_index(i2, j.at[2], K[2], d[2]));
      }
    }
  }
}

}  // namespace vitrine::attention::na
