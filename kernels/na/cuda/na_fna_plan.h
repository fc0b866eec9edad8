// The tiling of the tensor-core fused forward (na_fna_forward.cuh), in the GEMM form of
// "Faster Neighborhood Attention" (NATTEN's FNA): torch- and CUDA-free, __host__ __device__,
// so the CPU tests check the very plan the GPU runs.
//
// Dilation without waste: the tokens of one dilation residue (g0, g1, g2) form a dense
// sub-lattice of lengths group_length(L_a, d_a, g_a), on which the problem is plain NA with
// dilation 1 (na_index.h: window() in group coordinates is the dilated window). A thread
// block (CTA) owns one multi-dimensional tile of queries of one residue: 64 queries, 16 per
// warp, laid out as 64 (1-D), 8x8 (2-D) or 4x4x4 (3-D) over the axes longer than one. The
// union of its queries' windows is a box of keys (windows only move forward along an axis);
// the CTA walks that box in row-major chunks of 64 keys, so every chunk is one 64x64 block
// of Q.K^T and one of P.V on the tensor cores, with a per-element mask for the keys outside
// a query's own window. Group coordinates throughout; real token = coordinate * d + residue.
#pragma once

#include <cstdint>

#include "na/common/na_geometry.h"

namespace vitrine::cuda::fna {

using attention::na::Geometry;

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kQueryTile = 16 * kWarps;  // one m16 row block per warp
constexpr int kKeyChunk = 64;            // keys per Q.K^T / P.V block

// The problems the kernel's code takes, whatever the device: head dim 32/64/128 equal to the
// value dim, and token indices that fit the int of KeySlot (na_fna_forward.cuh).
VITRINE_HD bool serves(const Geometry& g) {
  return g.dim == g.value_dim && (g.dim == 32 || g.dim == 64 || g.dim == 128) &&
         g.tokens() <= 0x7fffffff;
}

// Extents of the query tile on the three canonical axes (product kQueryTile).
struct TileShape {
  int64_t extent[3] = {1, 1, kQueryTile};
};

// Query tile for `g`: square/cubic over the axes longer than one, which minimises the key box
// (tile + K - 1 per axis) per query.
VITRINE_HD TileShape tile_shape(const Geometry& g) {
  int axes[3] = {2, 2, 2};
  int used = 0;
  for (int a = 0; a < 3; ++a)
    if (g.length[a] > 1) axes[used++] = a;
  TileShape s;
  s.extent[2] = 1;
  if (used <= 1) {
    s.extent[axes[0]] = kQueryTile;
  } else if (used == 2) {
    s.extent[axes[0]] = 8;
    s.extent[axes[1]] = 8;
  } else {
    s.extent[0] = s.extent[1] = s.extent[2] = 4;
  }
  return s;
}

// A box of group coordinates: first[a] .. first[a] + extent[a] - 1 on each axis.
struct Box {
  int64_t first[3] = {0, 0, 0};
  int64_t extent[3] = {0, 0, 0};
  VITRINE_HD int64_t volume() const { return extent[0] * extent[1] * extent[2]; }
};

// What one CTA computes.
struct CtaPlan {
  int64_t bh = 0;                    // batch * heads + head
  int64_t residue[3] = {0, 0, 0};    // dilation group on each axis
  int64_t group_len[3] = {1, 1, 1};  // length of that group on each axis
  Box queries;                       // the tile, clipped to the group
  Box keys;                          // union of the tile's windows
  bool empty = true;                 // a tile past the end of a shorter group

  VITRINE_HD int64_t chunks() const { return (keys.volume() + kKeyChunk - 1) / kKeyChunk; }
};

// Tiles along `axis` in the longest dilation group (group 0).
VITRINE_HD int64_t tiles_along(const Geometry& g, const TileShape& s, int axis) {
  const int64_t longest = attention::na::group_length(g.length[axis], g.dilation[axis], 0);
  return (longest + s.extent[axis] - 1) / s.extent[axis];
}

VITRINE_HD int64_t ctas_per_head(const Geometry& g, const TileShape& s) {
  int64_t n = 1;
  for (int a = 0; a < 3; ++a) n *= g.dilation[a] * tiles_along(g, s, a);
  return n;
}

VITRINE_HD int64_t cta_count(const Geometry& g, const TileShape& s) {
  return ctas_per_head(g, s) * g.batch_heads();
}

// Window of the query at group coordinate `i` on `axis` of a group of length `len`.
VITRINE_HD attention::na::Span group_window(const Geometry& g, int axis, int64_t len, int64_t i) {
  return attention::na::window(i, len, g.kernel[axis], 1, g.causal[axis]);
}

// CTA `cta` (of cta_count()): (batch*head) outermost, then residue, then tile, so that the
// CTAs sharing keys run side by side.
VITRINE_HD CtaPlan plan_cta(const Geometry& g, const TileShape& s, int64_t cta) {
  CtaPlan p;
  const int64_t per_head = ctas_per_head(g, s);
  p.bh = cta / per_head;
  int64_t rest = cta % per_head;
  int64_t tile[3];
  for (int a = 2; a >= 0; --a) {
    const int64_t n = tiles_along(g, s, a);
    tile[a] = rest % n;
    rest /= n;
  }
  for (int a = 2; a >= 0; --a) {
    p.residue[a] = rest % g.dilation[a];
    rest /= g.dilation[a];
  }
  p.empty = false;
  for (int a = 0; a < 3; ++a) {
    const int64_t len = attention::na::group_length(g.length[a], g.dilation[a], p.residue[a]);
    p.group_len[a] = len;
    const int64_t first = tile[a] * s.extent[a];
    const int64_t count = len - first < s.extent[a] ? len - first : s.extent[a];
    if (count <= 0) {
      p.empty = true;
      return p;
    }
    p.queries.first[a] = first;
    p.queries.extent[a] = count;
    const attention::na::Span head = group_window(g, a, len, first);
    const attention::na::Span tail = group_window(g, a, len, first + count - 1);
    p.keys.first[a] = head.first;
    p.keys.extent[a] = tail.first + tail.count - head.first;
  }
  return p;
}

// Real token index of group coordinates `c` of plan `p`.
VITRINE_HD int64_t token_of(const Geometry& g, const CtaPlan& p, const int64_t c[3]) {
  attention::na::Coord3 real{{c[0] * g.dilation[0] + p.residue[0],
                              c[1] * g.dilation[1] + p.residue[1],
                              c[2] * g.dilation[2] + p.residue[2]}};
  return attention::na::token_index(g, real);
}

// Query row `r` (0..kQueryTile-1, row-major over the tile shape) as group coordinates; false
// for a row outside the clipped tile.
VITRINE_HD bool query_of_row(const TileShape& s, const CtaPlan& p, int64_t r, int64_t c[3]) {
  const int64_t t[3] = {r / (s.extent[1] * s.extent[2]), (r / s.extent[2]) % s.extent[1],
                        r % s.extent[2]};
  bool inside = true;
  for (int a = 0; a < 3; ++a) {
    inside = inside && t[a] < p.queries.extent[a];
    c[a] = p.queries.first[a] + t[a];
  }
  return inside;
}

// Key `u` of the box (row-major over it) as group coordinates; false past the box.
// 32-bit division: boxes hold at most a few thousand keys, and 64-bit division is slow on GPUs.
VITRINE_HD bool key_of_index(const CtaPlan& p, int64_t u, int64_t c[3]) {
  const int e1 = static_cast<int>(p.keys.extent[1]), e2 = static_cast<int>(p.keys.extent[2]);
  const int i = static_cast<int>(u);
  c[2] = p.keys.first[2] + i % e2;
  c[1] = p.keys.first[1] + (i / e2) % e1;
  c[0] = p.keys.first[0] + i / (e1 * e2);
  return u < p.keys.volume();
}

// A query's window on every axis and its relative-position-bias origin: what the mask and the
// bias of each (query, key) element need.
struct QueryWindow {
  int64_t first[3] = {0, 0, 0};
  int64_t count[3] = {0, 0, 0};
  int64_t at[3] = {0, 0, 0};  // the query, group coordinates
  bool valid = false;
};

VITRINE_HD QueryWindow query_window(const Geometry& g, const TileShape& s, const CtaPlan& p,
                                    int64_t row) {
  QueryWindow w;
  w.valid = query_of_row(s, p, row, w.at);
  for (int a = 0; a < 3; ++a) {
    const attention::na::Span span = group_window(g, a, p.group_len[a], w.at[a]);
    w.first[a] = span.first;
    w.count[a] = w.valid ? span.count : 0;
  }
  return w;
}

// Whether key `k` (group coordinates) is in window `w`.
VITRINE_HD bool attends(const QueryWindow& w, const int64_t k[3]) {
  bool in = w.valid;
  for (int a = 0; a < 3; ++a) in = in && k[a] >= w.first[a] && k[a] < w.first[a] + w.count[a];
  return in;
}

// Offset of the bias cell of (w's query, key k) in one head's [E0][E1][E2] table: the
// relative position in group coordinates is the real one divided by the dilation.
VITRINE_HD int64_t bias_cell(const Geometry& g, const QueryWindow& w, const int64_t k[3]) {
  int64_t o = 0;
  for (int a = 0; a < 3; ++a) o = o * g.bias_extent(a) + (g.kernel[a] - 1 + k[a] - w.at[a]);
  return o;
}

}  // namespace vitrine::cuda::fna
