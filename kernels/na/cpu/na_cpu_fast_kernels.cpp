// Compiled once per instruction set: VITRINE_ISA names the namespace (see CMakeLists.txt).
// Torch-free on purpose: compiling libtorch's inline functions with wider ISA flags would
// break the one-definition rule.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "na/common/na_index.h"
#include "na/cpu/na_cpu_fast.h"

#ifndef VITRINE_ISA
#error "VITRINE_ISA must name the instruction-set namespace"
#endif
#define VITRINE_STRINGIFY2(x) #x
#define VITRINE_STRINGIFY(x) VITRINE_STRINGIFY2(x)

namespace vitrine::attention::na::fast::VITRINE_ISA {
namespace {

// exp for float lanes, vectorisable: 2^n * p(r) with r = x - n*ln2 (Cephes' polynomial,
// relative error ~1e-7); inputs below -87 (masked -inf logits) give exactly 0.
inline float fast_exp(float x) {
  const bool underflow = x < -87.0f;
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float n = std::nearbyint(x * 1.44269504088896341f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits;
  const int32_t e = (static_cast<int32_t>(n) + 127) << 23;
  std::memcpy(&bits, &p, sizeof(bits));
  bits += e - (127 << 23);
  float result;
  std::memcpy(&result, &bits, sizeof(result));
  return underflow ? 0.0f : result;
}

// One native register of float lanes, one query per lane: 16 with AVX-512, 8 with AVX2, 4
// with SSE. Written as a vector type so the across-queries product is vectorised in every
// build (left to the auto-vectoriser, the loops got interchanged into scalar FMA chains;
// 16-lane values on AVX2 spilled to the stack).
#if defined(__AVX512F__)
constexpr int kLanes = 16;
#elif defined(__AVX2__)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif
static_assert(kLanes <= kTile, "the zero tail of the transposed keys covers kTile lanes");
typedef float Lanes __attribute__((vector_size(kLanes * sizeof(float))));

__attribute__((always_inline)) inline Lanes load_lanes(const float* p) {
  Lanes v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

template <int kDv>
inline void accumulate_row(float* __restrict acc, float weight, const float* __restrict row,
                           int64_t dv) {
  const int64_t n = kDv > 0 ? kDv : dv;
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) acc[c] += weight * row[c];
}

typedef int32_t LaneInts __attribute__((vector_size(kLanes * sizeof(int32_t))));

// One tile of queries, decoded from its work-item index: the (batch*head, i0, i1) row, the
// windows along axes 0 and 1 (shared by the tile), and per lane t its query token, axis-2
// window (start and size in group coordinates), the axis-2 position of its first key, the
// transposed-row column of that key, and its bias offset. Lanes past `nt` repeat the last
// query with an empty window. `query` indexes [BH, tokens] arrays (lse, delta, attention
// rows, partial gradients); `token` is the query's position inside its (batch, head), and
// *_base where the (batch, head)'s rows start in q/k, v and out (TiledShape's layouts).
struct TileView {
  int64_t bh, i0, i1, row01;
  int64_t q_base, v_base, out_base;
  int nt;
  const Tile* tile;
  Span w0, w1;
  int64_t query[kLanes], token[kLanes], start[kLanes], count[kLanes], key0[kLanes], column[kLanes],
      bias_off[kLanes];
  // Per segment: first lane and the column a lane-shifted load starts from.
  int32_t segments, lane0[kMaxSegments];
  TileKind kind[kMaxSegments];
  int64_t load_column[kMaxSegments];
  bool short_windows;  // some lane's axis-2 window is cut short (causal)
};

TileView view_tile(const TiledShape& a, int64_t n) {
  TileView v;
  v.tile = &a.tile[n % a.tiles];
  int64_t rest = n / a.tiles;
  v.i1 = rest % a.L[1];
  rest /= a.L[1];
  v.i0 = rest % a.L[0];
  v.bh = rest / a.L[0];
  v.nt = static_cast<int>(v.tile->count);
  v.row01 = (v.bh * a.L[0] + v.i0) * a.L[1] + v.i1;
  v.q_base = row_start(a.q_rows, a.heads, v.bh, 0);
  v.v_base = row_start(a.v_rows, a.heads, v.bh, 0);
  v.out_base = row_start(a.out_rows, a.heads, v.bh, 0);
  const int64_t first_query = v.bh * a.L[0] * a.L[1] * a.L[2];
  v.w0 = window(v.i0, a.L[0], a.K[0], a.d[0], a.causal[0]);
  v.w1 = window(v.i1, a.L[1], a.K[1], a.d[1], a.causal[1]);
  v.short_windows = false;
  v.segments = v.tile->segments;
  const int64_t L2 = a.L[2], K2 = a.K[2], d2 = a.d[2];
  int t = 0;
  for (int s = 0; s < v.segments; ++s) {
    const Segment& seg = v.tile->segment[s];
    v.lane0[s] = t;
    v.kind[s] = seg.kind;
    for (int64_t i = 0; i < seg.count; ++i, ++t) {
      const int64_t c = seg.first + i;
      const Span w2 = window(seg.group + d2 * c, L2, K2, d2, a.causal[2]);
      v.start[t] = (w2.first - seg.group) / d2;
      v.count[t] = w2.count;
      v.short_windows |= w2.count < K2;
      v.query[t] = v.row01 * L2 + seg.group + d2 * c;
      v.token[t] = v.query[t] - first_query;
      v.key0[t] = w2.first;
      v.column[t] = a.group_offset[seg.group] + v.start[t];
      v.bias_off[t] = K2 - 1 + v.start[t] - c;
    }
    // A contiguous run's lane l reads column column[lane0] + (l - lane0).
    v.load_column[s] = v.column[v.lane0[s]] - (seg.kind == TileKind::kContiguous ? v.lane0[s] : 0);
  }
  for (; t < kLanes; ++t) {  // padding lanes
    v.query[t] = v.query[t - 1];
    v.token[t] = v.token[t - 1];
    v.start[t] = v.start[t - 1];
    v.count[t] = 0;
    v.key0[t] = v.key0[t - 1];
    v.column[t] = v.column[t - 1];
    v.bias_off[t] = v.bias_off[t - 1];
  }
  return v;
}

// Per lane t: sum over c < len of xt[c][t] * rows[c][column[t] + k2], where xt is a tile
// transposed (lane-minor, stride kLanes) and rows a transposed key/value row (stride L2).
// Each segment costs one vector load (contiguous) or broadcast (constant) per c, blended in
// by lane; lanes outside a segment may read neighbouring finite values or the zero padding.
inline Lanes lane_products(const TileView& v, const float* __restrict xt,
                           const float* __restrict rows, int64_t len, int64_t L2, int64_t k2) {
  constexpr int T = kLanes;
  Lanes acc = {};
  if (v.segments == 1 && v.kind[0] == TileKind::kContiguous) {
    // Four independent accumulators: one FMA chain would wait on its latency.
    const float* base = rows + v.load_column[0] + k2;
    Lanes a1 = {}, a2 = {}, a3 = {};
    const int64_t whole = len - len % 4;
    for (int64_t c = 0; c < whole; c += 4) {
      acc += load_lanes(xt + c * T) * load_lanes(base + c * L2);
      a1 += load_lanes(xt + (c + 1) * T) * load_lanes(base + (c + 1) * L2);
      a2 += load_lanes(xt + (c + 2) * T) * load_lanes(base + (c + 2) * L2);
      a3 += load_lanes(xt + (c + 3) * T) * load_lanes(base + (c + 3) * L2);
    }
    for (int64_t c = whole; c < len; ++c) acc += load_lanes(xt + c * T) * load_lanes(base + c * L2);
    return acc + ((a1 + a2) + a3);
  }
  if (v.segments == 1) {  // constant: every lane reads the same column
    const float* base = rows + v.load_column[0] + k2;
    for (int64_t c = 0; c < len; ++c) acc += load_lanes(xt + c * T) * base[c * L2];
    return acc;
  }
  LaneInts lane;
  for (int t = 0; t < T; ++t) lane[t] = t;
  for (int64_t c = 0; c < len; ++c) {
    const float* row = rows + c * L2 + k2;
    Lanes values = v.kind[0] == TileKind::kContiguous ? load_lanes(row + v.load_column[0])
                                                      : Lanes{} + row[v.load_column[0]];
    for (int s = 1; s < v.segments; ++s) {
      const Lanes part = v.kind[s] == TileKind::kContiguous ? load_lanes(row + v.load_column[s])
                                                            : Lanes{} + row[v.load_column[s]];
      values = lane >= v.lane0[s] ? part : values;
    }
    acc += load_lanes(xt + c * T) * values;
  }
  return acc;
}

// Bias per lane for axis-0/1 offset bias01 and axis-2 slot k2.
inline Lanes lane_bias(const TileView& v, const float* bias, int64_t bias01, int64_t k2) {
  if (v.segments == 1 && v.kind[0] == TileKind::kContiguous)
    return Lanes{} + bias[bias01 + v.bias_off[0] + k2];  // the same for every lane
  Lanes b;
  for (int t = 0; t < kLanes; ++t) b[t] = bias[bias01 + v.bias_off[t] + k2];
  return b;
}

// Calls fn(values, probs) for each (axis 0, axis 1) row of lane t's window: `values` is the
// value row of the lane's first axis-2 key, `probs` the row's probabilities (stride kLanes).
template <typename Fn>
inline void for_each_value_row(const TiledShape& a, const float* values, const TileView& tv,
                               const float* prob, int64_t pstride, int t, Fn&& fn) {
  const int64_t L1 = a.L[1], L2 = a.L[2], K1 = a.K[1], K2 = a.K[2];
  for (int64_t k0 = 0; k0 < tv.w0.count; ++k0) {
    const int64_t j0 = tv.w0.first + k0 * a.d[0];
    for (int64_t k1 = 0; k1 < tv.w1.count; ++k1) {
      const int64_t j1 = tv.w1.first + k1 * a.d[1];
      fn(values + tv.v_base + ((j0 * L1 + j1) * L2 + tv.key0[t]) * a.v_rows.token,
         prob + (k0 * K1 + k1) * K2 * pstride);
    }
  }
}

// out = sum over lane t's window of prob[slot] * values[key(slot)], slots `pstride` apart
// (kLanes for the fused kernel's slot-major block, 1 for an attention row). With a value width that
// is a multiple of the lane count the row accumulators are register values (two sets, alternating
// keys, to halve the FMA dependency chains); otherwise plain loops.
template <int kDv>
void weighted_values(const TiledShape& a, const float* values, const TileView& tv,
                     const float* prob, int64_t pstride, int t, float* out) {
  constexpr int T = kLanes;
  const int64_t Dv = kDv > 0 ? kDv : a.value_dim;
  const int64_t stride = a.d[2] * a.v_rows.token;  // between consecutive keys of a group
  const int64_t count = tv.count[t];
  constexpr int V = (kDv > 0 && kDv % kLanes == 0) ? kDv / kLanes : 0;
  if constexpr (V > 0) {
    Lanes even[V] = {}, odd[V] = {};
    for_each_value_row(a, values, tv, prob, pstride, t, [&](const float* vbase, const float* p) {
      int64_t k2 = 0;
      for (; k2 + 2 <= count; k2 += 2) {
        const float pe = p[k2 * pstride], po = p[(k2 + 1) * pstride];
        const float* re = vbase + k2 * stride;
        const float* ro = re + stride;
        for (int u = 0; u < V; ++u) {
          even[u] += pe * load_lanes(re + u * T);
          odd[u] += po * load_lanes(ro + u * T);
        }
      }
      if (k2 < count) {
        const float pe = p[k2 * pstride];
        const float* re = vbase + k2 * stride;
        for (int u = 0; u < V; ++u) even[u] += pe * load_lanes(re + u * T);
      }
    });
    for (int u = 0; u < V; ++u) {
      const Lanes sum = even[u] + odd[u];
      std::memcpy(out + u * T, &sum, sizeof(sum));
    }
  } else {
    for (int64_t c = 0; c < Dv; ++c) out[c] = 0;
    for_each_value_row(a, values, tv, prob, pstride, t, [&](const float* vbase, const float* p) {
      for (int64_t k2 = 0; k2 < count; ++k2)
        accumulate_row<kDv>(out, p[k2 * pstride], vbase + k2 * stride, Dv);
    });
  }
}

// The tile's logits, slot-major: logits[slot * kLanes + t] = (q_t * scale)·k (+ rpb) for
// every slot of lane t's window; slots no key reaches (causal, padding) hold -inf.
// `qt` is scratch for the transposed queries (dim * kLanes floats). Always inlined: as an
// out-of-line call it cost 37% on dilated problems (interleaved A/B, 56x56 d4: 35 vs 25.5 ms).
__attribute__((always_inline)) inline void tile_logits(const TiledShape& a, const TileView& v,
                                                       const float* q, const float* kt,
                                                       const float* rpb, float scale, float* qt,
                                                       float* logits) {
  constexpr int T = kLanes;
  const int64_t L0 = a.L[0], L1 = a.L[1], L2 = a.L[2];
  const int64_t K0 = a.K[0], K1 = a.K[1], K2 = a.K[2];
  const int64_t E1 = 2 * K1 - 1, E2 = 2 * K2 - 1;
  const int64_t W = K0 * K1 * K2, D = a.dim;
  for (int t = 0; t < T; ++t) {
    const float* qrow = q + v.q_base + v.token[t] * a.q_rows.token;
    for (int64_t dd = 0; dd < D; ++dd) qt[dd * T + t] = t < v.nt ? qrow[dd] * scale : 0.0f;
  }
  std::fill(logits, logits + W * T, -std::numeric_limits<float>::infinity());
  const float* bias = rpb ? rpb + (v.bh % a.heads) * (2 * K0 - 1) * E1 * E2 : nullptr;
  for (int64_t k0 = 0; k0 < v.w0.count; ++k0) {
    const int64_t j0 = v.w0.first + k0 * a.d[0];
    const int64_t b0 = bias_index(v.i0, j0, K0, a.d[0]);
    for (int64_t k1 = 0; k1 < v.w1.count; ++k1) {
      const int64_t j1 = v.w1.first + k1 * a.d[1];
      const int64_t b1 = bias_index(v.i1, j1, K1, a.d[1]);
      const float* ktrow = kt + ((v.bh * L0 + j0) * L1 + j1) * D * L2;
      const int64_t slot01 = (k0 * K1 + k1) * K2, bias01 = (b0 * E1 + b1) * E2;
      for (int64_t k2 = 0; k2 < K2; ++k2) {
        Lanes s = lane_products(v, qt, ktrow, D, L2, k2);
        if (bias) s += lane_bias(v, bias, bias01, k2);
        float* out_slot = logits + (slot01 + k2) * T;
        std::memcpy(out_slot, &s, sizeof(s));
        if (v.short_windows)  // causal: slots past a query's window stay masked
          for (int t = 0; t < v.nt; ++t)
            if (k2 >= v.count[t]) out_slot[t] = -std::numeric_limits<float>::infinity();
      }
    }
  }
}

template <int kDv>
void fused_forward_tiles(const FusedForwardArgs& a, int64_t begin, int64_t end) {
  constexpr int T = kLanes;
  const int64_t W = a.K[0] * a.K[1] * a.K[2], D = a.dim, Dv = kDv > 0 ? kDv : a.value_dim;
  std::vector<float> logits(static_cast<size_t>(T) * W);
  std::vector<float> qt(static_cast<size_t>(D) * T);
  std::vector<float> acc(static_cast<size_t>(Dv));

  for (int64_t n = begin; n < end; ++n) {
    const TileView v = view_tile(a, n);
    const int nt = v.nt;
    tile_logits(a, v, a.q, a.kt, a.rpb, a.scale, qt.data(), logits.data());

    // Softmax across the tile's lanes, slot by slot (slots never reached stay -inf -> 0).
    Lanes m;
    std::memcpy(&m, logits.data(), sizeof(m));
    for (int64_t slot = 1; slot < W; ++slot) {
      const Lanes x = load_lanes(logits.data() + slot * T);
      m = x > m ? x : m;
    }
    float mx[T], sum[T] = {};
    std::memcpy(mx, &m, sizeof(mx));
    for (int64_t slot = 0; slot < W; ++slot) {
      float* lg = logits.data() + slot * T;
#pragma omp simd
      for (int t = 0; t < T; ++t) {
        const float p = fast_exp(lg[t] - mx[t]);
        lg[t] = p;
        sum[t] += p;
      }
    }

    // Weighted sum of values, one query at a time; its probabilities sit at stride T.
    for (int t = 0; t < nt; ++t) {
      weighted_values<kDv>(a, a.v, v, logits.data() + t, T, t, acc.data());
      const float inv = 1.0f / sum[t];
      float* orow = a.out + v.out_base + v.token[t] * a.out_rows.token;
      for (int64_t c = 0; c < Dv; ++c) orow[c] = acc[c] * inv;
      a.lse[v.query[t]] = mx[t] + std::log(sum[t]);
    }
  }
}

// attn[query][slot] = q·k (+ rpb) for every slot of every query of the tile; slots a causal
// window does not reach hold -inf (the unfused op's contract: callers scale q).
void qk_forward(const QkForwardArgs& a, int64_t begin, int64_t end) {
  constexpr int T = kLanes;
  const int64_t W = a.K[0] * a.K[1] * a.K[2];
  std::vector<float> logits(static_cast<size_t>(T) * W);
  std::vector<float> qt(static_cast<size_t>(a.dim) * T);
  for (int64_t n = begin; n < end; ++n) {
    const TileView v = view_tile(a, n);
    tile_logits(a, v, a.q, a.kt, a.rpb, 1.0f, qt.data(), logits.data());
    for (int t = 0; t < v.nt; ++t) {
      float* row = a.attn + v.query[t] * W;
      for (int64_t slot = 0; slot < W; ++slot) row[slot] = logits[slot * T + t];
    }
  }
}

// out[query] = sum over its window of attn[query][slot] * v[key(slot)].
template <int kDv>
void av_forward_tiles(const AvForwardArgs& a, int64_t begin, int64_t end) {
  const int64_t W = a.K[0] * a.K[1] * a.K[2];
  for (int64_t n = begin; n < end; ++n) {
    const TileView v = view_tile(a, n);
    for (int t = 0; t < v.nt; ++t)
      weighted_values<kDv>(a, a.v, v, a.attn + v.query[t] * W, 1, t,
                           a.out + v.out_base + v.token[t] * a.out_rows.token);
  }
}

void av_forward(const AvForwardArgs& a, int64_t begin, int64_t end) {
  switch (a.value_dim) {
    case 16: av_forward_tiles<16>(a, begin, end); break;
    case 32: av_forward_tiles<32>(a, begin, end); break;
    case 64: av_forward_tiles<64>(a, begin, end); break;
    default: av_forward_tiles<0>(a, begin, end); break;
  }
}

void fused_forward(const FusedForwardArgs& a, int64_t begin, int64_t end) {
  // Fixed value widths let the compiler keep the accumulator row in registers.
  switch (a.value_dim) {
    case 16: fused_forward_tiles<16>(a, begin, end); break;
    case 32: fused_forward_tiles<32>(a, begin, end); break;
    case 64: fused_forward_tiles<64>(a, begin, end); break;
    default: fused_forward_tiles<0>(a, begin, end); break;
  }
}

template <int kD>
void fused_backward_tiles(const FusedBackwardArgs& a, int64_t begin, int64_t end, int thread) {
  constexpr int T = kLanes;
  const int64_t L0 = a.L[0], L1 = a.L[1], L2 = a.L[2];
  const int64_t K1 = a.K[1], K2 = a.K[2];
  const int64_t d2 = a.d[2];
  const int64_t E1 = 2 * K1 - 1, E2 = 2 * K2 - 1;
  const int64_t bias_size = (2 * a.K[0] - 1) * E1 * E2;
  const int64_t D = kD > 0 ? kD : a.dim, Dv = kD > 0 ? kD : a.value_dim;
  float* dk_part = a.dk_partial + thread * a.partial_stride_k;
  float* dv_part = a.dv_partial + thread * a.partial_stride_v;
  float* drpb_part = a.drpb_partial ? a.drpb_partial + thread * a.partial_stride_rpb : nullptr;
  std::vector<float> qt(static_cast<size_t>(D) * T), dot_t(static_cast<size_t>(Dv) * T);
  std::vector<float> dq_acc(static_cast<size_t>(T) * D);

  for (int64_t n = begin; n < end; ++n) {
    const TileView tv = view_tile(a, n);
    const int nt = tv.nt;
    float lse[T], delta[T];
    for (int t = 0; t < T; ++t) {
      const float* qrow = a.q + tv.q_base + tv.token[t] * a.q_rows.token;
      const float* gorow = a.dout + tv.out_base + tv.token[t] * a.out_rows.token;
      lse[t] = t < nt ? a.lse[tv.query[t]] : 0.0f;
      delta[t] = t < nt ? a.delta[tv.query[t]] : 0.0f;
      for (int64_t c = 0; c < D; ++c) qt[c * T + t] = t < nt ? qrow[c] * a.scale : 0.0f;
      for (int64_t c = 0; c < Dv; ++c) dot_t[c * T + t] = t < nt ? gorow[c] : 0.0f;
    }
    std::fill(dq_acc.begin(), dq_acc.end(), 0.0f);
    const int64_t head = tv.bh % a.heads;
    const int64_t first_query = tv.bh * L0 * L1 * L2;
    const float* k_rows = a.k + tv.q_base;  // k has q's layout
    const int64_t k_step = a.q_rows.token;
    const float* q_rows[T];
    const float* dout_rows[T];
    for (int t = 0; t < T; ++t) {
      q_rows[t] = a.q + tv.q_base + tv.token[t] * a.q_rows.token;
      dout_rows[t] = a.dout + tv.out_base + tv.token[t] * a.out_rows.token;
    }
    const float* bias = a.rpb ? a.rpb + head * bias_size : nullptr;
    float* bias_grad = drpb_part ? drpb_part + head * bias_size : nullptr;

    for (int64_t k0 = 0; k0 < tv.w0.count; ++k0) {
      const int64_t j0 = tv.w0.first + k0 * a.d[0];
      const int64_t b0 = bias_index(tv.i0, j0, a.K[0], a.d[0]);
      for (int64_t k1 = 0; k1 < tv.w1.count; ++k1) {
        const int64_t j1 = tv.w1.first + k1 * a.d[1];
        const int64_t b1 = bias_index(tv.i1, j1, K1, a.d[1]);
        const int64_t key_row = (tv.bh * L0 + j0) * L1 + j1;
        const int64_t key_row_token = (j0 * L1 + j1) * L2;
        const float* ktrow = a.kt + key_row * D * L2;
        const float* vtrow = a.vt + key_row * Dv * L2;
        const int64_t bias01 = (b0 * E1 + b1) * E2;
        for (int64_t k2 = 0; k2 < K2; ++k2) {
          Lanes s = lane_products(tv, qt.data(), ktrow, D, L2, k2);
          if (bias) s += lane_bias(tv, bias, bias01, k2);
          const Lanes dp = lane_products(tv, dot_t.data(), vtrow, Dv, L2, k2);
          float sv[T], dpv[T], prob[T], ds[T];
          std::memcpy(sv, &s, sizeof(sv));
          std::memcpy(dpv, &dp, sizeof(dpv));
#pragma omp simd
          for (int t = 0; t < T; ++t) {
            const bool valid = t < nt && k2 < tv.count[t];
            prob[t] = valid ? fast_exp(sv[t] - lse[t]) : 0.0f;
            ds[t] = prob[t] * (dpv[t] - delta[t]);
          }
          for (int t = 0; t < nt; ++t) {
            if (k2 >= tv.count[t]) continue;
            const int64_t key_token = key_row_token + tv.key0[t] + d2 * k2;
            const int64_t key = first_query + key_token;  // in the partial buffers
            if (bias_grad) bias_grad[bias01 + tv.bias_off[t] + k2] += ds[t];
            const float dss = ds[t] * a.scale;
            accumulate_row<kD>(dq_acc.data() + t * D, dss, k_rows + key_token * k_step, D);
            accumulate_row<kD>(dk_part + key * D, dss, q_rows[t], D);
            accumulate_row<kD>(dv_part + key * Dv, prob[t], dout_rows[t], Dv);
          }
        }
      }
    }
    for (int t = 0; t < nt; ++t)
      std::memcpy(a.dq + tv.q_base + tv.token[t] * a.q_rows.token, dq_acc.data() + t * D,
                  sizeof(float) * D);
  }
}

void fused_backward(const FusedBackwardArgs& a, int64_t begin, int64_t end, int thread) {
  if (a.dim == a.value_dim && a.dim == 16) return fused_backward_tiles<16>(a, begin, end, thread);
  if (a.dim == a.value_dim && a.dim == 32) return fused_backward_tiles<32>(a, begin, end, thread);
  if (a.dim == a.value_dim && a.dim == 64) return fused_backward_tiles<64>(a, begin, end, thread);
  fused_backward_tiles<0>(a, begin, end, thread);
}

void transpose_keys(const TransposeArgs& a, int64_t begin, int64_t end) {
  // Walk destination columns in blocks of 16 so every write is a contiguous run (writing
  // one source row at a time strides the destination by a whole row per element).
  constexpr int64_t kBlock = 16;
  int64_t source[kBlock];
  for (int64_t r = begin; r < end; ++r) {
    const int64_t bh = r / a.rows_per_head;
    const float* src = a.k + row_start(a.layout, a.heads, bh, (r - bh * a.rows_per_head) * a.L2);
    float* dst = a.kt + r * a.dim * a.L2;
    for (int64_t g = 0; g < a.d2 && g < a.L2; ++g) {
      const int64_t glen = group_length(a.L2, a.d2, g);
      for (int64_t c0 = 0; c0 < glen; c0 += kBlock) {
        const int64_t n = std::min(kBlock, glen - c0);
        for (int64_t c = 0; c < n; ++c) source[c] = (g + a.d2 * (c0 + c)) * a.layout.token;
        float* out = dst + a.group_offset[g] + c0;
        for (int64_t dd = 0; dd < a.dim; ++dd)
          for (int64_t c = 0; c < n; ++c) out[dd * a.L2 + c] = src[source[c] + dd];
      }
    }
  }
}

}  // namespace

extern const Kernels kKernels;
const Kernels kKernels{VITRINE_STRINGIFY(VITRINE_ISA),
                       kLanes,
                       &fused_forward,
                       &fused_backward,
                       &qk_forward,
                       &av_forward,
                       &transpose_keys};

}  // namespace vitrine::attention::na::fast::VITRINE_ISA
