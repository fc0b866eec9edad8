// The tiling of the tensor-core fused forward (na_fna_forward.cuh), in the GEMM form of
// "Faster Neighborhood Attention" (NATTEN's FNA): torch- and CUDA-free, __host__ __device__,
// so the CPU tests check the very plan the GPU runs.
//
// Dilation without waste: the tokens of one dilation residue (g0, g1, g2) form a dense
// sub-lattice of lengths group_length(L_a, d_a, g_a), on which the problem is plain NA with
// dilation 1 (na_index.h: window() in group coordinates is the dilated window). A thread
// block (CTA) owns one multi-dimensional tile of 64 tokens of one residue, 16 per warp, laid
// out as 64 (1-D), 8x8 (2-D) or 4x4x4 (3-D) over the axes longer than one. In the forward and
// the dQ pass of the backward the tile holds queries, and the union of their windows is a
// box of keys (windows only move forward along an axis); in the dK/dV pass (na_fna_backward.cuh)
// the tile holds keys, and the union of their inverse windows is a box of queries. Either way
// the CTA walks that box, its reach, in row-major chunks of 64, so every chunk is one 64x64
// block of each product on the tensor cores, with a per-element mask for the pairs where the
// key is outside the query's own window. Group coordinates throughout; real token =
// coordinate * d + residue.
#pragma once

#include <cstdint>

#include "na/common/na_geometry.h"

namespace vitrine::cuda::fna {

using attention::na::Geometry;

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kTile = 16 * kWarps;  // tokens a CTA owns: one m16 row block per warp
constexpr int kChunk = 64;          // tokens of the reach per block of products

// The problems the kernel's code takes, whatever the device: head dim 32/64/128 equal to the
// value dim, and token indices that fit the int of KeySlot (na_fna_forward.cuh).
VITRINE_HD bool serves(const Geometry& g) {
  return g.dim == g.value_dim && (g.dim == 32 || g.dim == 64 || g.dim == 128) &&
         g.tokens() <= 0x7fffffff;
}

// Extents of the query tile on the three canonical axes (product kTile).
struct TileShape {
  int64_t extent[3] = {1, 1, kTile};
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
    s.extent[axes[0]] = kTile;
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

// What a CTA's tile holds: queries (forward, dQ pass) or keys (dK/dV pass).
enum class Side { kQueries, kKeys };

// What one CTA computes.
struct CtaPlan {
  int64_t bh = 0;                    // batch * heads + head
  int64_t residue[3] = {0, 0, 0};    // dilation group on each axis
  int64_t group_len[3] = {1, 1, 1};  // length of that group on each axis
  Box tile;                          // the CTA's own tokens, clipped to the group
  Box reach;                         // the other side: union of the tile's (inverse) windows
  bool empty = true;                 // a tile past the end of a shorter group

  VITRINE_HD int64_t chunks() const { return (reach.volume() + kChunk - 1) / kChunk; }
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

// Queries whose windows hold key `j` (group coordinate on `axis`).
VITRINE_HD attention::na::Span group_inverse_window(const Geometry& g, int axis, int64_t len,
                                                    int64_t j) {
  return attention::na::inverse_window(j, len, g.kernel[axis], 1, g.causal[axis]);
}

// CTA `cta` (of cta_count()) of a pass whose tiles hold `side`: (batch*head) outermost, then
// residue, then tile, so that the CTAs sharing their reach run side by side.
VITRINE_HD CtaPlan plan_cta(const Geometry& g, const TileShape& s, int64_t cta,
                            Side side = Side::kQueries) {
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
    p.tile.first[a] = first;
    p.tile.extent[a] = count;
    // Both kinds of window only move forward along an axis: the reach runs from the first
    // token's window start to the last token's window end.
    const bool queries = side == Side::kQueries;
    const attention::na::Span head =
        queries ? group_window(g, a, len, first) : group_inverse_window(g, a, len, first);
    const attention::na::Span tail = queries ? group_window(g, a, len, first + count - 1)
                                             : group_inverse_window(g, a, len, first + count - 1);
    p.reach.first[a] = head.first;
    p.reach.extent[a] = tail.first + tail.count - head.first;
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

// Tile row `r` (0..kTile-1, row-major over the tile shape) as group coordinates; false for a
// row outside the clipped tile.
VITRINE_HD bool tile_member(const TileShape& s, const CtaPlan& p, int64_t r, int64_t c[3]) {
  const int64_t t[3] = {r / (s.extent[1] * s.extent[2]), (r / s.extent[2]) % s.extent[1],
                        r % s.extent[2]};
  bool inside = true;
  for (int a = 0; a < 3; ++a) {
    inside = inside && t[a] < p.tile.extent[a];
    c[a] = p.tile.first[a] + t[a];
  }
  return inside;
}

// Token `u` of the reach (row-major over its box) as group coordinates; false past the box.
// 32-bit division: boxes hold at most a few thousand tokens, and 64-bit division is slow on
// GPUs.
VITRINE_HD bool reach_member(const CtaPlan& p, int64_t u, int64_t c[3]) {
  const int e1 = static_cast<int>(p.reach.extent[1]), e2 = static_cast<int>(p.reach.extent[2]);
  const int i = static_cast<int>(u);
  c[2] = p.reach.first[2] + i % e2;
  c[1] = p.reach.first[1] + (i / e2) % e1;
  c[0] = p.reach.first[0] + i / (e1 * e2);
  return u < p.reach.volume();
}

// A query's window on every axis and its relative-position-bias origin: what the mask and the
// bias of each (query, key) element need.
struct QueryWindow {
  int64_t first[3] = {0, 0, 0};
  int64_t count[3] = {0, 0, 0};
  int64_t at[3] = {0, 0, 0};  // the query, group coordinates
  bool valid = false;
};

// The window of the query at group coordinates `at` of plan `p`'s residue (count 0 on every
// axis unless `valid`).
VITRINE_HD QueryWindow window_at(const Geometry& g, const CtaPlan& p, const int64_t at[3],
                                 bool valid) {
  QueryWindow w;
  w.valid = valid;
  for (int a = 0; a < 3; ++a) {
    w.at[a] = at[a];
    const attention::na::Span span = group_window(g, a, p.group_len[a], at[a]);
    w.first[a] = span.first;
    w.count[a] = valid ? span.count : 0;
  }
  return w;
}

// The window of tile row `row` of a query-side plan.
VITRINE_HD QueryWindow query_window(const Geometry& g, const TileShape& s, const CtaPlan& p,
                                    int64_t row) {
  int64_t at[3];
  const bool valid = tile_member(s, p, row, at);
  return window_at(g, p, at, valid);
}

// Whether key `k` (group coordinates) is in window `w`.
VITRINE_HD bool attends(const QueryWindow& w, const int64_t k[3]) {
  bool in = w.valid;
  for (int a = 0; a < 3; ++a) in = in && k[a] >= w.first[a] && k[a] < w.first[a] + w.count[a];
  return in;
}

// Offset of the bias cell of (query at `q`, key at `k`), group coordinates, in one head's
// [E0][E1][E2] table: the relative position in group coordinates is the real one divided by
// the dilation.
template <typename QueryAt, typename KeyAt>
VITRINE_HD int64_t relative_cell(const Geometry& g, const QueryAt& q, const KeyAt& k) {
  int64_t o = 0;
  for (int a = 0; a < 3; ++a) o = o * g.bias_extent(a) + (g.kernel[a] - 1 + k[a] - q[a]);
  return o;
}

// The bias cell of (w's query, key k).
VITRINE_HD int64_t bias_cell(const Geometry& g, const QueryWindow& w, const int64_t k[3]) {
  return relative_cell(g, w.at, k);
}

}  // namespace vitrine::cuda::fna
