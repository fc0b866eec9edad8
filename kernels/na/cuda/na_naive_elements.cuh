// The naive neighborhood-attention kernels, one output element per call: what each CUDA
// thread of na_naive.cu computes. Written once as __host__ __device__ templates (T is the
// storage type, Acc the accumulator) so the CPU tests run exactly this code against the
// reference; the .cu file only maps threads to `index` and converts Acc to T.
//
// Layouts and token/slot order: attention/ops/na_geometry.h. Slots a causal window does not
// reach hold -inf in qk outputs and are skipped (or produce 0) everywhere else.
#pragma once

#include <cmath>

#include "na/common/na_geometry.h"

namespace vitrine::cuda::naive {

using attention::na::Coord3;
using attention::na::Geometry;
using attention::na::Span;

// Splits a flat index over [B*heads][tokens][inner] into its parts.
struct Flat {
  int64_t bh, token, inner;
};
VITRINE_HD Flat split(const Geometry& g, int64_t index, int64_t inner) {
  Flat f;
  f.inner = index % inner;
  index /= inner;
  f.token = index % g.tokens();
  f.bh = index / g.tokens();
  return f;
}

template <typename Acc, typename T>
VITRINE_HD Acc dot(const T* a, const T* b, int64_t n) {
  Acc sum = 0;
  for (int64_t c = 0; c < n; ++c) sum += static_cast<Acc>(a[c]) * static_cast<Acc>(b[c]);
  return sum;
}

// attn[bh, t, w] = q[t] . k[key of slot w] (+ rpb[h, cell]); index over [B*heads][tokens][W].
template <typename Acc, typename T>
VITRINE_HD Acc qk(const Geometry& g, const T* q, const T* k, const T* rpb, int64_t index) {
  const Flat f = split(g, index, g.window_size());
  const Coord3 i = attention::na::token_coord(g, f.token);
  Coord3 j;
  if (!attention::na::slot_key(g, i, f.inner, j)) return -INFINITY;
  const int64_t base = f.bh * g.tokens();
  Acc s = dot<Acc>(q + (base + f.token) * g.dim,
                   k + (base + attention::na::token_index(g, j)) * g.dim, g.dim);
  if (rpb != nullptr)
    s += static_cast<Acc>(
        rpb[(f.bh % g.heads) * g.bias_size() + attention::na::bias_offset(g, i, j)]);
  return s;
}

// A window-weighted sum of gathered rows: out[bh, t, c] = sum_w weights[t, w] * x[key of w, c]
// (`width` is x's last dim). This is av (weights = attn, x = v) and the gradient of qk
// w.r.t. q (weights = grad_attn, x = k).
template <typename Acc, typename T>
VITRINE_HD Acc gather_grad(const Geometry& g, const T* grad_attn, const T* k, int64_t width,
                           int64_t index) {
  const Flat f = split(g, index, width);
  const Coord3 i = attention::na::token_coord(g, f.token);
  const int64_t base = f.bh * g.tokens();
  const T* weights = grad_attn + (base + f.token) * g.window_size();
  Acc sum = 0;
  Coord3 j;
  for (int64_t w = 0; w < g.window_size(); ++w) {
    if (!attention::na::slot_key(g, i, w, j)) continue;
    sum += static_cast<Acc>(weights[w]) *
           static_cast<Acc>(k[(base + attention::na::token_index(g, j)) * width + f.inner]);
  }
  return sum;
}

// out[bh, t, c] = sum over the window of attn[t, w] * v[key, c]; index over [..][value_dim].
template <typename Acc, typename T>
VITRINE_HD Acc av(const Geometry& g, const T* attn, const T* v, int64_t index) {
  return gather_grad<Acc>(g, attn, v, g.value_dim, index);
}

// Gradient w.r.t. the attended operand, gathered over the inverse window of key t:
// dk[bh, t, c] = sum over queries i whose window holds t of weights[i, slot of t] * x[i, c]
// (dk: weights = grad_attn, x = q; dv: weights = attn, x = grad_out). `width` is x's last dim.
template <typename Acc, typename T>
VITRINE_HD Acc scatter_grad(const Geometry& g, const T* weights, const T* x, int64_t width,
                            int64_t index) {
  const Flat f = split(g, index, width);
  const Coord3 j = attention::na::token_coord(g, f.token);
  const int64_t base = f.bh * g.tokens();
  Span inv[3];
  for (int a = 0; a < 3; ++a) inv[a] = attention::na::axis_inverse_window(g, a, j.at[a]);
  Acc sum = 0;
  Coord3 i;
  for (int64_t t0 = 0; t0 < inv[0].count; ++t0) {
    i.at[0] = inv[0].first + t0 * g.dilation[0];
    for (int64_t t1 = 0; t1 < inv[1].count; ++t1) {
      i.at[1] = inv[1].first + t1 * g.dilation[1];
      for (int64_t t2 = 0; t2 < inv[2].count; ++t2) {
        i.at[2] = inv[2].first + t2 * g.dilation[2];
        const int64_t query = base + attention::na::token_index(g, i);
        sum +=
            static_cast<Acc>(weights[query * g.window_size() + attention::na::key_slot(g, i, j)]) *
            static_cast<Acc>(x[query * width + f.inner]);
      }
    }
  }
  return sum;
}

// Gradient of av w.r.t. attn: grad_attn[bh, t, w] = grad_out[t] . v[key of w], 0 where the
// slot holds no key; index over [B*heads][tokens][W].
template <typename Acc, typename T>
VITRINE_HD Acc attn_grad(const Geometry& g, const T* grad_out, const T* v, int64_t index) {
  const Flat f = split(g, index, g.window_size());
  const Coord3 i = attention::na::token_coord(g, f.token);
  Coord3 j;
  if (!attention::na::slot_key(g, i, f.inner, j)) return 0;
  const int64_t base = f.bh * g.tokens();
  return dot<Acc>(grad_out + (base + f.token) * g.value_dim,
                  v + (base + attention::na::token_index(g, j)) * g.value_dim, g.value_dim);
}

// One term of the rpb gradient: grad_attn[bh, t, w] goes to drpb[cell]; returns false for
// slots without a key. The caller sums the terms (atomically on the GPU) in Acc: float32,
// or float64 for float64 inputs.
template <typename Acc, typename T>
VITRINE_HD bool bias_grad_term(const Geometry& g, const T* grad_attn, int64_t index, int64_t& cell,
                               Acc& value) {
  const Flat f = split(g, index, g.window_size());
  const Coord3 i = attention::na::token_coord(g, f.token);
  Coord3 j;
  if (!attention::na::slot_key(g, i, f.inner, j)) return false;
  cell = (f.bh % g.heads) * g.bias_size() + attention::na::bias_offset(g, i, j);
  value = static_cast<Acc>(grad_attn[index]);
  return true;
}

// delta[bh, t] = grad_out[t] . out[t]: the softmax-backward term of the fused backward.
template <typename Acc, typename T>
VITRINE_HD Acc row_dot(const Geometry& g, const T* grad_out, const T* out, int64_t index) {
  return dot<Acc>(grad_out + index * g.value_dim, out + index * g.value_dim, g.value_dim);
}

}  // namespace vitrine::cuda::naive
