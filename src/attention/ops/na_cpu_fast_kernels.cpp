// Compiled once per instruction set: VITRINE_ISA names the namespace (see CMakeLists.txt).
// Torch-free on purpose: compiling libtorch's inline functions with wider ISA flags would
// break the one-definition rule.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "attention/ops/na_cpu_fast.h"
#include "attention/ops/na_index.h"

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

template <int kDv>
void fused_forward_tiles(const FusedForwardArgs& a, int64_t begin, int64_t end) {
  constexpr int T = kLanes;
  const int64_t L0 = a.L[0], L1 = a.L[1], L2 = a.L[2];
  const int64_t K0 = a.K[0], K1 = a.K[1], K2 = a.K[2];
  const int64_t d2 = a.d[2];
  const int64_t E1 = 2 * K1 - 1, E2 = 2 * K2 - 1;
  const int64_t bias_size = (2 * K0 - 1) * E1 * E2;
  const int64_t W = K0 * K1 * K2, D = a.dim, Dv = kDv > 0 ? kDv : a.value_dim;
  std::vector<float> logits(static_cast<size_t>(T) * W);
  std::vector<float> qt(static_cast<size_t>(D) * T);
  std::vector<float> acc_store(static_cast<size_t>(2 * Dv));
  float* acc = acc_store.data();

  for (int64_t n = begin; n < end; ++n) {
    const int64_t tile = n % a.tiles;
    int64_t rest = n / a.tiles;
    const int64_t i1 = rest % L1;
    rest /= L1;
    const int64_t i0 = rest % L0;
    const int64_t bh = rest / L0;
    const Tile& tl = a.tile[tile];
    const int64_t g = tl.group, t0 = tl.first;
    const int64_t glen = group_length(L2, d2, g);
    const int nt = static_cast<int>(tl.count);
    const Span w0 = window(i0, L0, K0, a.d[0], a.causal[0]);
    const Span w1 = window(i1, L1, K1, a.d[1], a.causal[1]);
    int64_t start[T], count[T];
    bool short_windows = false;
    for (int t = 0; t < T; ++t) {
      if (t < nt) {
        const Span w2 = window(g + d2 * (t0 + t), L2, K2, d2, a.causal[2]);
        short_windows |= w2.count < K2;
        start[t] = (w2.first - g) / d2;  // group coordinate
        count[t] = w2.count;
      } else {  // padding lanes (a tile always has a first query, so t > 0 here)
        start[t] = (t > 0 ? start[t - 1] : 0) + (tl.kind == TileKind::kContiguous ? 1 : 0);
        count[t] = 0;
      }
    }

    // The tile's queries, transposed and pre-scaled: qt[dd][t].
    const int64_t row01 = (bh * L0 + i0) * L1 + i1;
    for (int t = 0; t < T; ++t) {
      const float* qrow = a.q + (row01 * L2 + g + d2 * (t0 + t)) * D;
      for (int64_t dd = 0; dd < D; ++dd) qt[dd * T + t] = t < nt ? qrow[dd] * a.scale : 0.0f;
    }
    std::fill(logits.begin(), logits.end(), -std::numeric_limits<float>::infinity());
    const float* bias = a.rpb ? a.rpb + (bh % a.heads) * bias_size : nullptr;

    for (int64_t k0 = 0; k0 < w0.count; ++k0) {
      const int64_t j0 = w0.first + k0 * a.d[0];
      const int64_t b0 = bias_index(i0, j0, K0, a.d[0]);
      for (int64_t k1 = 0; k1 < w1.count; ++k1) {
        const int64_t j1 = w1.first + k1 * a.d[1];
        const int64_t b1 = bias_index(i1, j1, K1, a.d[1]);
        const float* ktrow = a.kt + ((bh * L0 + j0) * L1 + j1) * D * L2 + a.group_offset[g];
        const int64_t slot01 = (k0 * K1 + k1) * K2;
        const int64_t bias01 = (b0 * E1 + b1) * E2;
        for (int64_t k2 = 0; k2 < K2; ++k2) {
          Lanes acc = {};
          if (tl.kind == TileKind::kContiguous) {
            // Lanes past nt read neighbouring (finite) keys or the zero tail; their q is 0.
            // Four independent accumulators: one FMA chain would wait on its latency.
            const float* base = ktrow + start[0] + k2;
            const float* qp = qt.data();
            Lanes a1 = {}, a2 = {}, a3 = {};
            int64_t dd = 0;
            for (; dd + 4 <= D; dd += 4) {
              acc += load_lanes(qp + dd * T) * load_lanes(base + dd * L2);
              a1 += load_lanes(qp + (dd + 1) * T) * load_lanes(base + (dd + 1) * L2);
              a2 += load_lanes(qp + (dd + 2) * T) * load_lanes(base + (dd + 2) * L2);
              a3 += load_lanes(qp + (dd + 3) * T) * load_lanes(base + (dd + 3) * L2);
            }
            for (; dd < D; ++dd) acc += load_lanes(qp + dd * T) * load_lanes(base + dd * L2);
            acc += (a1 + a2) + a3;
          } else if (tl.kind == TileKind::kConstant) {
            // Every query of the tile reads the same key: a broadcast.
            const float* base = ktrow + std::min(start[0] + k2, glen - 1);
            for (int64_t dd = 0; dd < D; ++dd)
              acc += load_lanes(qt.data() + dd * T) * base[dd * L2];
          } else {
            int64_t idx[T];
            for (int t = 0; t < T; ++t) idx[t] = std::min(start[t] + k2, glen - 1);
            for (int64_t dd = 0; dd < D; ++dd) {
              const float* kp = ktrow + dd * L2;
              Lanes keys;
              for (int t = 0; t < T; ++t) keys[t] = kp[idx[t]];
              acc += load_lanes(qt.data() + dd * T) * keys;
            }
          }
          // Bias along axis 2 in group coordinates: (K2 - 1) + (key - query); the same for
          // every lane of a contiguous tile.
          if (bias) {
            if (tl.kind == TileKind::kContiguous) {
              acc += bias[bias01 + K2 - 1 + start[0] + k2 - t0];
            } else {
              Lanes b = {};
              for (int t = 0; t < nt; ++t) b[t] = bias[bias01 + K2 - 1 + start[t] + k2 - (t0 + t)];
              acc += b;
            }
          }
          float* out_slot = logits.data() + (slot01 + k2) * T;
          std::memcpy(out_slot, &acc, sizeof(acc));
          if (short_windows)  // causal: slots past a query's window stay masked
            for (int t = 0; t < nt; ++t)
              if (k2 >= count[t]) out_slot[t] = -std::numeric_limits<float>::infinity();
        }
      }
    }

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
      // Two accumulator rows, alternating keys, halve the FMA dependency chains.
      for (int64_t c = 0; c < 2 * Dv; ++c) acc[c] = 0;
      float* acc_odd = acc + Dv;
      for (int64_t k0 = 0; k0 < w0.count; ++k0) {
        const int64_t j0 = w0.first + k0 * a.d[0];
        for (int64_t k1 = 0; k1 < w1.count; ++k1) {
          const int64_t j1 = w1.first + k1 * a.d[1];
          const float* vbase = a.v + (((bh * L0 + j0) * L1 + j1) * L2 + g + d2 * start[t]) * Dv;
          const float* p = logits.data() + (k0 * K1 + k1) * K2 * T + t;
          const int64_t stride = d2 * Dv;
          int64_t k2 = 0;
          for (; k2 + 2 <= count[t]; k2 += 2) {
            accumulate_row<kDv>(acc, p[k2 * T], vbase + k2 * stride, Dv);
            accumulate_row<kDv>(acc_odd, p[(k2 + 1) * T], vbase + (k2 + 1) * stride, Dv);
          }
          if (k2 < count[t]) accumulate_row<kDv>(acc, p[k2 * T], vbase + k2 * stride, Dv);
        }
      }
      for (int64_t c = 0; c < Dv; ++c) acc[c] += acc_odd[c];
      const int64_t query = row01 * L2 + g + d2 * (t0 + t);
      const float inv = 1.0f / sum[t];
      float* orow = a.out + query * Dv;
      for (int64_t c = 0; c < Dv; ++c) orow[c] = acc[c] * inv;
      a.lse[query] = mx[t] + std::log(sum[t]);
    }
  }
}

void fused_forward(const FusedForwardArgs& a, int64_t begin, int64_t end) {
  // Fixed value widths let the compiler keep the accumulator row in registers.
  switch (a.value_dim) {
    case 32: fused_forward_tiles<32>(a, begin, end); break;
    case 64: fused_forward_tiles<64>(a, begin, end); break;
    default: fused_forward_tiles<0>(a, begin, end); break;
  }
}

void transpose_keys(const TransposeArgs& a, int64_t begin, int64_t end) {
  for (int64_t r = begin; r < end; ++r) {
    const float* src = a.k + r * a.L2 * a.dim;
    float* dst = a.kt + r * a.dim * a.L2;
    for (int64_t p = 0; p < a.L2; ++p) {
      const int64_t column = a.group_offset[p % a.d2] + p / a.d2;
      for (int64_t dd = 0; dd < a.dim; ++dd) dst[dd * a.L2 + column] = src[p * a.dim + dd];
    }
  }
}

}  // namespace

extern const Kernels kKernels;
const Kernels kKernels{VITRINE_STRINGIFY(VITRINE_ISA), kLanes, &fused_forward, &transpose_keys};

}  // namespace vitrine::attention::na::fast::VITRINE_ISA
