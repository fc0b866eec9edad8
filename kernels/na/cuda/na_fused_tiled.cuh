// The fused neighborhood-attention kernels (forward; backward as a dQ/dRPB pass and a dK/dV
// pass), written as __host__ __device__ phases of one thread block so that the CPU tests
// can execute a block exactly as the GPU does (tests/na_cuda_logic_test.cpp runs every
// thread of a phase, then the next phase: that is what __syncthreads() guarantees).
//
// Tiling. A block owns a tile of `tile` consecutive positions of one dilation group along
// the innermost axis (axis 2), at one position of axes 0 and 1. Along axes 0 and 1 all of
// them share one window, so the block walks that window row by row (a "row" is one key
// position (j0, j1)); along axis 2 their windows overlap and together cover a contiguous
// run of at most tile + K2 - 1 keys, which is staged once per row in shared memory as
// float and read by every query of the tile. Each query is served by `lanes` threads that
// own interleaved slices of the head dimension; their partial dot products meet in shared
// memory. The forward keeps an online softmax (running max and sum) in registers and never
// writes attention weights to global memory; it stores each query's log-sum-exp.
//
// Backward (FlashAttention's recomputation): probabilities p = exp(s - lse), dp = dO . v,
// ds = p (dp - delta) with delta = dO . O. Pass 1 tiles queries like the forward and
// accumulates dQ += ds * scale * k and the rpb gradient (per row in shared memory, then one
// global float atomic per bias cell). Pass 2 tiles keys: the queries attending to a tile of
// keys are the inverse windows (na_index.h), again one row (i0, i1) at a time and a
// contiguous run of at most tile + 2*K2 - 2 queries along axis 2; it accumulates
// dK += ds * scale * q and dV += p * dO without atomics.
#pragma once

#include <cmath>
#include <vector>

#include "na/common/na_geometry.h"

namespace vitrine::cuda::tiled {

using attention::na::Coord3;
using attention::na::Geometry;
using attention::na::Span;

// Threads per query (lanes) and tile length for a head dim: every lane owns 8 dims and a
// block always has 128 threads.
template <int D>
struct Tiling {
  static_assert(D % 8 == 0 && D >= 8 && D <= 256, "head dim must be a multiple of 8");
  static constexpr int kDim = D;
  static constexpr int kPerLane = 8;
  static constexpr int kLanes = D / kPerLane;
  static constexpr int kThreads = 128;
  static constexpr int kTile = kThreads / kLanes;
};

VITRINE_HD void atomic_add(float* address, float value) {
#if defined(__CUDA_ARCH__)
  atomicAdd(address, value);
#else
  *address += value;
#endif
}

// ---------------------------------------------------------------- tile plan

// What one block works on. `members` are positions along axis 2 (the tile); `partners` are
// the other side of the attention (keys for a query tile, queries for a key tile).
struct TilePlan {
  int64_t bh = 0;
  int64_t fixed[2] = {0, 0};        // the tile's position on axes 0 and 1
  int64_t group = 0;                // dilation group along axis 2
  int64_t first = 0;                // first member, in group coordinates
  int64_t count = 0;                // members in the tile; 0 for an empty block
  Span rows[2] = {{0, 0}, {0, 0}};  // partner positions on axes 0 and 1 (step = dilation)
  int64_t span_first = 0;           // first staged partner along axis 2, group coordinates
  int64_t span_count = 0;           // staged partners along axis 2

  VITRINE_HD int64_t row_count() const { return rows[0].count * rows[1].count; }
};

// Tiles along axis 2 in each dilation group (the longest group decides).
VITRINE_HD int64_t tiles_per_group(const Geometry& g, int tile) {
  const int64_t longest = attention::na::group_length(g.length[2], g.dilation[2], 0);
  return (longest + tile - 1) / tile;
}

// Blocks for one (batch, head): every (axis-0, axis-1) position x group x tile.
VITRINE_HD int64_t blocks_per_head(const Geometry& g, int tile) {
  return g.length[0] * g.length[1] * g.dilation[2] * tiles_per_group(g, tile);
}

// Largest span_count any tile can have: windows move by at most one position per query
// (tile + K - 1); inverse windows reach K - 1 positions to either side (tile + 2K - 2).
VITRINE_HD int64_t max_span(const Geometry& g, int tile, bool inverse) {
  return tile + (inverse ? 2 : 1) * (g.kernel[2] - 1);
}

// Largest inverse window along axis 2 (= max partners of one key).
VITRINE_HD int64_t max_inverse(const Geometry& g) {
  return 2 * g.kernel[2] - 1;
}

VITRINE_HD Span partner_run(const Geometry& g, bool inverse, int axis, int64_t position) {
  return inverse ? attention::na::axis_inverse_window(g, axis, position)
                 : attention::na::axis_window(g, axis, position);
}

// `block` counts blocks within one (batch, head) `bh`; `inverse` plans a key tile.
VITRINE_HD TilePlan plan_tile(const Geometry& g, int tile, bool inverse, int64_t bh,
                              int64_t block) {
  TilePlan p;
  p.bh = bh;
  const int64_t per_group = tiles_per_group(g, tile);
  const int64_t tile_index = block % per_group;
  block /= per_group;
  p.group = block % g.dilation[2];
  const int64_t row = block / g.dilation[2];
  p.fixed[0] = row / g.length[1];
  p.fixed[1] = row % g.length[1];
  p.first = tile_index * tile;
  const int64_t group_len = attention::na::group_length(g.length[2], g.dilation[2], p.group);
  p.count = group_len - p.first < tile ? group_len - p.first : tile;
  if (p.count <= 0) {
    p.count = 0;
    return p;
  }
  for (int a = 0; a < 2; ++a) p.rows[a] = partner_run(g, inverse, a, p.fixed[a]);
  const int64_t d2 = g.dilation[2];
  const Span head = partner_run(g, inverse, 2, attention::na::from_group(p.first, p.group, d2));
  const Span tail =
      partner_run(g, inverse, 2, attention::na::from_group(p.first + p.count - 1, p.group, d2));
  p.span_first = attention::na::in_group(head.first, d2);
  p.span_count = attention::na::in_group(tail.first, d2) + tail.count - p.span_first;
  return p;
}

// Partner `r` of the row walk, as its (axis 0, axis 1) position.
VITRINE_HD void row_position(const Geometry& g, const TilePlan& p, int64_t r, int64_t& x0,
                             int64_t& x1) {
  x0 = p.rows[0].first + (r / p.rows[1].count) * g.dilation[0];
  x1 = p.rows[1].first + (r % p.rows[1].count) * g.dilation[1];
}

VITRINE_HD int64_t member_token(const Geometry& g, const TilePlan& p, int64_t member) {
  Coord3 c{{p.fixed[0], p.fixed[1],
            attention::na::from_group(p.first + member, p.group, g.dilation[2])}};
  return attention::na::token_index(g, c);
}

VITRINE_HD int64_t span_token(const Geometry& g, const TilePlan& p, int64_t x0, int64_t x1,
                              int64_t u) {
  Coord3 c{{x0, x1, attention::na::from_group(p.span_first + u, p.group, g.dilation[2])}};
  return attention::na::token_index(g, c);
}

// ---------------------------------------------------------------- shared memory

// Offsets (in floats) of the shared arrays of each kernel; `total` floats in all.
struct SharedLayout {
  int64_t tile_a = 0, tile_b = 0;        // [span][D] staged partners (k, v or q, dO)
  int64_t scalar_a = 0, scalar_b = 0;    // [span] staged lse, delta (key pass)
  int64_t partial_a = 0, partial_b = 0;  // [tile][slots][lanes] partial dot products
  int64_t bias = 0;                      // [E2] row-local rpb gradient (query pass)
  int64_t total = 0;
};

enum class Pass { kForward, kQueryGrad, kKeyGrad };

VITRINE_HD SharedLayout shared_layout(const Geometry& g, Pass pass, int dim, int tile, int lanes) {
  SharedLayout s;
  const bool inverse = pass == Pass::kKeyGrad;
  const int64_t span = max_span(g, tile, inverse);
  const int64_t slots = inverse ? max_inverse(g) : g.kernel[2];
  int64_t at = 0;
  s.tile_a = at;
  at += span * dim;
  s.tile_b = at;
  at += span * dim;
  if (inverse) {
    s.scalar_a = at;
    at += span;
    s.scalar_b = at;
    at += span;
  }
  s.partial_a = at;
  at += tile * slots * lanes;
  if (pass != Pass::kForward) {
    s.partial_b = at;
    at += tile * slots * lanes;
  }
  if (pass == Pass::kQueryGrad) {
    s.bias = at;
    at += g.bias_extent(2);
  }
  s.total = at;
  return s;
}

// ---------------------------------------------------------------- kernels as phases

template <typename T>
struct Tensors {
  const T* q = nullptr;
  const T* k = nullptr;
  const T* v = nullptr;
  const T* rpb = nullptr;  // may be null
  const T* out = nullptr;
  const T* grad_out = nullptr;
  const float* lse = nullptr;
  const float* delta = nullptr;
  T* out_w = nullptr;  // forward output
  float* lse_w = nullptr;
  T* grad_q = nullptr;
  T* grad_k = nullptr;
  T* grad_v = nullptr;
  float* grad_rpb = nullptr;  // [heads][E0][E1][E2] float32, zeroed by the caller; may be null
  float scale = 1;
};

// The inputs every tiled kernel reads, from untyped pointers.
template <typename T>
VITRINE_HD Tensors<T> inputs(const void* q, const void* k, const void* v, const void* rpb,
                             float scale) {
  Tensors<T> t;
  t.q = static_cast<const T*>(q);
  t.k = static_cast<const T*>(k);
  t.v = static_cast<const T*>(v);
  t.rpb = static_cast<const T*>(rpb);
  t.scale = scale;
  return t;
}

// Loads the dims a lane owns (lane, lane + lanes, ...) of one row as float.
template <int D, typename T>
VITRINE_HD void load_slice(const T* row, int lane, float* dst) {
  constexpr int lanes = Tiling<D>::kLanes;
  for (int m = 0; m < Tiling<D>::kPerLane; ++m) dst[m] = static_cast<float>(row[lane + lanes * m]);
}

template <int D>
VITRINE_HD float slice_dot(const float* mine, const float* shared_row, int lane) {
  constexpr int lanes = Tiling<D>::kLanes;
  float s = 0;
  for (int m = 0; m < Tiling<D>::kPerLane; ++m) s += mine[m] * shared_row[lane + lanes * m];
  return s;
}

// Stages rows [span][D] of `src` (and `src_b`) at partner row (x0, x1) as float.
template <int D, typename T>
VITRINE_HD void stage_rows(const Geometry& g, const TilePlan& p, int64_t x0, int64_t x1,
                           const T* src, const T* src_b, float* dst, float* dst_b, int tid) {
  const int64_t base = p.bh * g.tokens();
  for (int64_t e = tid; e < p.span_count * D; e += Tiling<D>::kThreads) {
    const int64_t u = e / D, c = e % D;
    const int64_t row = (base + span_token(g, p, x0, x1, u)) * D + c;
    dst[e] = static_cast<float>(src[row]);
    dst_b[e] = static_cast<float>(src_b[row]);
  }
}

// Position along axis 2 of tile member `member`.
VITRINE_HD int64_t member_position(const Geometry& g, const TilePlan& p, int64_t member) {
  return attention::na::from_group(p.first + member, p.group, g.dilation[2]);
}

// rpb[h, cell of (i, j)] as float, 0 without a bias.
template <typename T>
VITRINE_HD float bias_value(const Geometry& g, const T* rpb, int64_t bh, const Coord3& i,
                            const Coord3& j) {
  if (rpb == nullptr) return 0;
  return static_cast<float>(
      rpb[(bh % g.heads) * g.bias_size() + attention::na::bias_offset(g, i, j)]);
}

// Sum of the lanes' partial dot products stored at `partial[0..lanes)`.
template <int D>
VITRINE_HD float lane_sum(const float* partial) {
  float sum = 0;
  for (int l = 0; l < Tiling<D>::kLanes; ++l) sum += partial[l];
  return sum;
}

// What every kernel shares: sizes, tensors, shared layout, and the thread -> (member, lane)
// mapping. `Run` is the partner run of a member along axis 2 (window or inverse window).
template <typename T, int D>
struct KernelBase {
  using Tile = Tiling<D>;
  Geometry g;
  Tensors<T> t;
  SharedLayout s;

  VITRINE_HD static int member_of(int tid) { return tid / Tile::kLanes; }
  VITRINE_HD static int lane_of(int tid) { return tid % Tile::kLanes; }
  VITRINE_HD bool owns(const TilePlan& p, int tid) const { return member_of(tid) < p.count; }
  VITRINE_HD int64_t global_token(const TilePlan& p, int tid) const {
    return p.bh * g.tokens() + member_token(g, p, member_of(tid));
  }
  // Window along axis 2 of query member `member` (query tiles).
  VITRINE_HD Span window2(const TilePlan& p, int member) const {
    return attention::na::axis_window(g, 2, member_position(g, p, member));
  }
  // Stages the keys and values of window row r (query tiles).
  VITRINE_HD void stage(const TilePlan& p, float* smem, int64_t r, int tid) const {
    int64_t j0, j1;
    row_position(g, p, r, j0, j1);
    stage_rows<D>(g, p, j0, j1, t.k, t.v, smem + s.tile_a, smem + s.tile_b, tid);
  }
  // First staged index of `run` (a partner run along axis 2).
  VITRINE_HD int64_t staged_index(const TilePlan& p, const Span& run) const {
    return attention::na::in_group(run.first, g.dilation[2]) - p.span_first;
  }
  // Partial dot products of the thread's slices `a` and `b` with every partner of `run`:
  // partial_a/partial_b[member][x][lane] (`slots` entries per member).
  VITRINE_HD void score_pair(const TilePlan& p, float* smem, int tid, const Span& run,
                             int64_t slots, const float* a, const float* b) const {
    const int member = member_of(tid), lane = lane_of(tid);
    const int64_t u0 = staged_index(p, run), at = member * slots * Tile::kLanes;
    for (int64_t x = 0; x < run.count; ++x) {
      smem[s.partial_a + at + x * Tile::kLanes + lane] =
          slice_dot<D>(a, smem + s.tile_a + (u0 + x) * D, lane);
      smem[s.partial_b + at + x * Tile::kLanes + lane] =
          slice_dot<D>(b, smem + s.tile_b + (u0 + x) * D, lane);
    }
  }
};

// Forward: out = softmax(q.k * scale + rpb) v, lse = log-sum-exp of the logits.
template <typename T, int D>
struct ForwardKernel : KernelBase<T, D> {
  using Base = KernelBase<T, D>;
  using Tile = typename Base::Tile;
  using Base::g, Base::t, Base::s;
  struct State {
    float q[Tile::kPerLane];
    float acc[Tile::kPerLane];
    float max, sum;
  };
  VITRINE_HD ForwardKernel(const Geometry& g_, const Tensors<T>& t_, const SharedLayout& s_)
      : Base{g_, t_, s_} {}

  VITRINE_HD void begin(const TilePlan& p, float*, int tid, State& st) const {
    for (int m = 0; m < Tile::kPerLane; ++m) st.acc[m] = 0;
    st.max = -INFINITY;
    st.sum = 0;
    if (!this->owns(p, tid)) return;
    load_slice<D>(t.q + this->global_token(p, tid) * D, Base::lane_of(tid), st.q);
  }

  using Base::stage, Base::window2;

  VITRINE_HD void score(const TilePlan& p, float* smem, int64_t, int tid, State& st) const {
    if (!this->owns(p, tid)) return;
    const int member = Base::member_of(tid), lane = Base::lane_of(tid);
    const Span w = window2(p, member);
    const int64_t u0 = this->staged_index(p, w);
    float* partial = smem + s.partial_a + member * g.kernel[2] * Tile::kLanes;
    for (int64_t x = 0; x < w.count; ++x)
      partial[x * Tile::kLanes + lane] = slice_dot<D>(st.q, smem + s.tile_a + (u0 + x) * D, lane);
  }

  VITRINE_HD void accumulate(const TilePlan& p, float* smem, int64_t r, int tid, State& st) const {
    if (!this->owns(p, tid)) return;
    const int member = Base::member_of(tid), lane = Base::lane_of(tid);
    const Span w = window2(p, member);
    const int64_t u0 = this->staged_index(p, w);
    const float* partial = smem + s.partial_a + member * g.kernel[2] * Tile::kLanes;
    float row_max = -INFINITY;
    for (int64_t x = 0; x < w.count; ++x) {
      const float logit = this->logit(p, r, member, w, x, partial);
      row_max = logit > row_max ? logit : row_max;
    }
    const float new_max = row_max > st.max ? row_max : st.max;
    const float correction = expf(st.max - new_max);
    st.sum *= correction;
    for (int m = 0; m < Tile::kPerLane; ++m) st.acc[m] *= correction;
    for (int64_t x = 0; x < w.count; ++x) {
      const float prob = expf(this->logit(p, r, member, w, x, partial) - new_max);
      st.sum += prob;
      const float* value = smem + s.tile_b + (u0 + x) * D;
      for (int m = 0; m < Tile::kPerLane; ++m) st.acc[m] += prob * value[lane + Tile::kLanes * m];
    }
    st.max = new_max;
  }

  VITRINE_HD void flush(const TilePlan&, float*, int64_t, int) const {}

  VITRINE_HD void finish(const TilePlan& p, float*, int tid, const State& st) const {
    if (!this->owns(p, tid)) return;
    const int lane = Base::lane_of(tid);
    const int64_t token = this->global_token(p, tid);
    for (int m = 0; m < Tile::kPerLane; ++m)
      t.out_w[token * D + lane + Tile::kLanes * m] = static_cast<T>(st.acc[m] / st.sum);
    if (lane == 0) t.lse_w[token] = st.max + logf(st.sum);
  }

  // Scaled logit (+ bias) of member's x-th key of row r, from the lanes' partial sums.
  VITRINE_HD float logit(const TilePlan& p, int64_t r, int member, const Span& w, int64_t x,
                         const float* partial) const {
    Coord3 i{{p.fixed[0], p.fixed[1], member_position(g, p, member)}}, j;
    row_position(g, p, r, j.at[0], j.at[1]);
    j.at[2] = w.first + x * g.dilation[2];
    return lane_sum<D>(partial + x * Tile::kLanes) * t.scale + bias_value(g, t.rpb, p.bh, i, j);
  }
};

// Backward pass 1: dQ and the rpb gradient, tiles of queries.
template <typename T, int D>
struct QueryGradKernel : KernelBase<T, D> {
  using Base = KernelBase<T, D>;
  using Tile = typename Base::Tile;
  using Base::g, Base::t, Base::s;
  struct State {
    float q[Tile::kPerLane];
    float grad_out[Tile::kPerLane];
    float grad_q[Tile::kPerLane];
    float lse, delta;
  };
  VITRINE_HD QueryGradKernel(const Geometry& g_, const Tensors<T>& t_, const SharedLayout& s_)
      : Base{g_, t_, s_} {}

  VITRINE_HD void begin(const TilePlan& p, float* smem, int tid, State& st) const {
    for (int64_t cell = tid; cell < g.bias_extent(2); cell += Tile::kThreads)
      smem[s.bias + cell] = 0;
    for (int m = 0; m < Tile::kPerLane; ++m) st.grad_q[m] = 0;
    if (!this->owns(p, tid)) return;
    const int64_t token = this->global_token(p, tid);
    load_slice<D>(t.q + token * D, Base::lane_of(tid), st.q);
    load_slice<D>(t.grad_out + token * D, Base::lane_of(tid), st.grad_out);
    st.lse = t.lse[token];
    st.delta = t.delta[token];
  }

  using Base::stage, Base::window2;

  VITRINE_HD void score(const TilePlan& p, float* smem, int64_t, int tid, State& st) const {
    if (!this->owns(p, tid)) return;
    this->score_pair(p, smem, tid, window2(p, Base::member_of(tid)), g.kernel[2], st.q,
                     st.grad_out);
  }

  VITRINE_HD void accumulate(const TilePlan& p, float* smem, int64_t r, int tid, State& st) const {
    if (!this->owns(p, tid)) return;
    const int member = Base::member_of(tid), lane = Base::lane_of(tid);
    const Span w = window2(p, member);
    const int64_t u0 = this->staged_index(p, w);
    const int64_t at = member * g.kernel[2] * Tile::kLanes;
    Coord3 i{{p.fixed[0], p.fixed[1], member_position(g, p, member)}}, j;
    row_position(g, p, r, j.at[0], j.at[1]);
    for (int64_t x = 0; x < w.count; ++x) {
      j.at[2] = w.first + x * g.dilation[2];
      const float logit = lane_sum<D>(smem + s.partial_a + at + x * Tile::kLanes) * t.scale +
                          bias_value(g, t.rpb, p.bh, i, j);
      const float prob = expf(logit - st.lse);
      const float ds = prob * (lane_sum<D>(smem + s.partial_b + at + x * Tile::kLanes) - st.delta);
      const float* key = smem + s.tile_a + (u0 + x) * D;
      for (int m = 0; m < Tile::kPerLane; ++m)
        st.grad_q[m] += ds * t.scale * key[lane + Tile::kLanes * m];
      if (lane == 0 && t.grad_rpb != nullptr)
        atomic_add(
            smem + s.bias + attention::na::bias_index(i.at[2], j.at[2], g.kernel[2], g.dilation[2]),
            ds);
    }
  }

  // Adds the row's rpb gradient to global memory and clears it for the next row; each
  // thread owns the same cells in every phase, so no barrier is needed before `stage`.
  VITRINE_HD void flush(const TilePlan& p, float* smem, int64_t r, int tid) const {
    if (t.grad_rpb == nullptr) return;
    int64_t j0, j1;
    row_position(g, p, r, j0, j1);
    const int64_t b0 = attention::na::bias_index(p.fixed[0], j0, g.kernel[0], g.dilation[0]);
    const int64_t b1 = attention::na::bias_index(p.fixed[1], j1, g.kernel[1], g.dilation[1]);
    const int64_t row =
        (p.bh % g.heads) * g.bias_size() + (b0 * g.bias_extent(1) + b1) * g.bias_extent(2);
    for (int64_t cell = tid; cell < g.bias_extent(2); cell += Tile::kThreads) {
      const float value = smem[s.bias + cell];
      if (value != 0) atomic_add(t.grad_rpb + row + cell, value);
      smem[s.bias + cell] = 0;
    }
  }

  VITRINE_HD void finish(const TilePlan& p, float*, int tid, const State& st) const {
    if (!this->owns(p, tid)) return;
    const int lane = Base::lane_of(tid);
    const int64_t token = this->global_token(p, tid);
    for (int m = 0; m < Tile::kPerLane; ++m)
      t.grad_q[token * D + lane + Tile::kLanes * m] = static_cast<T>(st.grad_q[m]);
  }
};

// Backward pass 2: dK and dV, tiles of keys; partners are the queries of inverse windows.
template <typename T, int D>
struct KeyGradKernel : KernelBase<T, D> {
  using Base = KernelBase<T, D>;
  using Tile = typename Base::Tile;
  using Base::g, Base::t, Base::s;
  struct State {
    float k[Tile::kPerLane];
    float v[Tile::kPerLane];
    float grad_k[Tile::kPerLane];
    float grad_v[Tile::kPerLane];
  };
  VITRINE_HD KeyGradKernel(const Geometry& g_, const Tensors<T>& t_, const SharedLayout& s_)
      : Base{g_, t_, s_} {}

  VITRINE_HD Span inverse2(const TilePlan& p, int member) const {
    return attention::na::axis_inverse_window(g, 2, member_position(g, p, member));
  }

  VITRINE_HD void begin(const TilePlan& p, float*, int tid, State& st) const {
    for (int m = 0; m < Tile::kPerLane; ++m) st.grad_k[m] = st.grad_v[m] = 0;
    if (!this->owns(p, tid)) return;
    const int64_t token = this->global_token(p, tid);
    load_slice<D>(t.k + token * D, Base::lane_of(tid), st.k);
    load_slice<D>(t.v + token * D, Base::lane_of(tid), st.v);
  }

  VITRINE_HD void stage(const TilePlan& p, float* smem, int64_t r, int tid) const {
    int64_t i0, i1;
    row_position(g, p, r, i0, i1);
    stage_rows<D>(g, p, i0, i1, t.q, t.grad_out, smem + s.tile_a, smem + s.tile_b, tid);
    const int64_t base = p.bh * g.tokens();
    for (int64_t u = tid; u < p.span_count; u += Tile::kThreads) {
      const int64_t token = base + span_token(g, p, i0, i1, u);
      smem[s.scalar_a + u] = t.lse[token];
      smem[s.scalar_b + u] = t.delta[token];
    }
  }

  VITRINE_HD void score(const TilePlan& p, float* smem, int64_t, int tid, State& st) const {
    if (!this->owns(p, tid)) return;
    this->score_pair(p, smem, tid, inverse2(p, Base::member_of(tid)), max_inverse(g), st.k, st.v);
  }

  VITRINE_HD void accumulate(const TilePlan& p, float* smem, int64_t r, int tid, State& st) const {
    if (!this->owns(p, tid)) return;
    const int member = Base::member_of(tid), lane = Base::lane_of(tid);
    const Span inv = inverse2(p, member);
    const int64_t u0 = this->staged_index(p, inv);
    const int64_t at = member * max_inverse(g) * Tile::kLanes;
    Coord3 i, j{{p.fixed[0], p.fixed[1], member_position(g, p, member)}};
    row_position(g, p, r, i.at[0], i.at[1]);
    for (int64_t x = 0; x < inv.count; ++x) {
      i.at[2] = inv.first + x * g.dilation[2];
      const int64_t u = u0 + x;
      const float logit = lane_sum<D>(smem + s.partial_a + at + x * Tile::kLanes) * t.scale +
                          bias_value(g, t.rpb, p.bh, i, j);
      const float prob = expf(logit - smem[s.scalar_a + u]);
      const float ds =
          prob * (lane_sum<D>(smem + s.partial_b + at + x * Tile::kLanes) - smem[s.scalar_b + u]);
      const float* query = smem + s.tile_a + u * D;
      const float* grad_out = smem + s.tile_b + u * D;
      for (int m = 0; m < Tile::kPerLane; ++m) {
        st.grad_v[m] += prob * grad_out[lane + Tile::kLanes * m];
        st.grad_k[m] += ds * t.scale * query[lane + Tile::kLanes * m];
      }
    }
  }

  VITRINE_HD void flush(const TilePlan&, float*, int64_t, int) const {}

  VITRINE_HD void finish(const TilePlan& p, float*, int tid, const State& st) const {
    if (!this->owns(p, tid)) return;
    const int lane = Base::lane_of(tid);
    const int64_t token = this->global_token(p, tid);
    for (int m = 0; m < Tile::kPerLane; ++m) {
      t.grad_k[token * D + lane + Tile::kLanes * m] = static_cast<T>(st.grad_k[m]);
      t.grad_v[token * D + lane + Tile::kLanes * m] = static_cast<T>(st.grad_v[m]);
    }
  }
};

// One block from start to end. `Exec` runs a phase on every thread (`each`) and separates
// phases (`sync`): __syncthreads() on the GPU, sequential loops in the CPU tests.
template <class Kernel, class Exec>
VITRINE_HD void run_block(const Kernel& kernel, const TilePlan& p, float* smem, Exec& exec) {
  using State = typename Kernel::State;
  if (p.count == 0) return;  // the same for every thread of the block
  exec.each([&](int tid, State& st) { kernel.begin(p, smem, tid, st); });
  exec.sync();
  for (int64_t r = 0; r < p.row_count(); ++r) {
    exec.each([&](int tid, State&) { kernel.stage(p, smem, r, tid); });
    exec.sync();
    exec.each([&](int tid, State& st) { kernel.score(p, smem, r, tid, st); });
    exec.sync();
    exec.each([&](int tid, State& st) { kernel.accumulate(p, smem, r, tid, st); });
    exec.sync();
    exec.each([&](int tid, State&) { kernel.flush(p, smem, r, tid); });
  }
  exec.each([&](int tid, State& st) { kernel.finish(p, smem, tid, st); });
}

// Runs a block on the CPU for run_block: every thread of a phase in turn, each keeping its
// State, then the next phase (the tests and the host stand-in of the GPU use it).
template <typename State>
struct HostExec {
  std::vector<State> states;
  explicit HostExec(int threads) : states(static_cast<size_t>(threads)) {}
  template <typename Fn>
  void each(const Fn& fn) {
    for (size_t t = 0; t < states.size(); ++t) fn(static_cast<int>(t), states[t]);
  }
  void sync() {}
};

}  // namespace vitrine::cuda::tiled
