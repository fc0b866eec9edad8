// CPU kernels of neighborhood attention: parallel over queries (or over keys for the
// gradients that gather from the inverse neighbourhood, so no two threads write the same
// row), with SIMD loops over the head dimension. No per-element allocation: scratch space
// is taken once per parallel chunk.
#include "attention/ops/na_cpu.h"

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>

#include <cmath>
#include <limits>
#include <vector>

#include "na/common/na_neighbourhood.h"
#include "na/cpu/na_cpu_fast.h"

namespace vitrine::attention::na::cpu {
namespace {

template <typename T>
inline T dot(const T* __restrict a, const T* __restrict b, int64_t n) {
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

template <typename T>
inline void axpy(T alpha, const T* __restrict x, T* __restrict y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

// Work per parallel chunk: aim for ~32k multiply-adds so small problems do not fan out.
int64_t grain(const Geometry& g, int64_t dim) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, g.window_size() * dim));
}

// Runs fn(n, bh, i) for every query n of every (batch, head) in parallel, with bh its
// batch*heads index and i its three coordinates; `work` is the per-key width for grain.
template <typename Fn>
void parallel_over_queries(const Problem& p, const Geometry& g, int64_t work, Fn&& fn) {
  const int64_t tokens = g.tokens();
  at::parallel_for(0, p.batch * p.heads * tokens, grain(g, work), [&](int64_t begin, int64_t end) {
    Coord3 i;
    for (int64_t n = begin; n < end; ++n) {
      i = token_coord(g, n % tokens);
      fn(n, n / tokens, i);
    }
  });
}

// Per-thread partial sums for the bias gradient, reduced at the end.
template <typename T>
class BiasGradAccumulator {
 public:
  BiasGradAccumulator(int64_t size, bool enabled)
      : size_(size), partial_(enabled ? size * at::get_num_threads() : 0, T(0)) {}
  T* local() { return partial_.empty() ? nullptr : partial_.data() + at::get_thread_num() * size_; }
  void reduce_into(T* out) const {
    if (partial_.empty()) return;
    for (int64_t i = 0; i < size_; ++i) out[i] = 0;
    for (size_t t = 0; t < partial_.size() / size_; ++t)
      for (int64_t i = 0; i < size_; ++i) out[i] += partial_[t * size_ + i];
  }

 private:
  int64_t size_;
  std::vector<T> partial_;
};

// out_j = sum over the queries i whose window holds key j of weights[i, slot(i, j)] * rows_i:
// the shape of both dK (weights = dattn, rows = q) and dV (weights = attn, rows = dout).
// Parallel over keys, so every output row has one writer.
template <typename T>
void gather_inverse(const Problem& p, const Geometry& g, const T* weights, const T* rows,
                    int64_t width, T* out) {
  const int64_t T_ = g.tokens(), W = g.window_size();
  at::parallel_for(0, p.batch * p.heads * T_, grain(g, width), [&](int64_t begin, int64_t end) {
    Coord3 j;
    std::vector<int64_t> scratch(inverse_scratch_size(g));
    for (int64_t n = begin; n < end; ++n) {
      const int64_t bh = n / T_;
      j = token_coord(g, n % T_);
      const T* wbase = weights + bh * T_ * W;
      const T* rbase = rows + bh * T_ * width;
      T* orow = out + n * width;
      for (int64_t c = 0; c < width; ++c) orow[c] = 0;
      for_each_query(g, j, scratch.data(), [&](int64_t query, int64_t slot, int64_t) {
        axpy(wbase[query * W + slot], rbase + query * width, orow, width);
      });
    }
  });
}

template <typename T>
void qk_forward_impl(const Problem& p, const at::Tensor& q_t, const at::Tensor& k_t,
                     const at::Tensor& rpb_t, at::Tensor& attn_t) {
  const Geometry g = geometry(p);
  const int64_t D = p.dim, T_ = g.tokens(), W = g.window_size();
  const T* q = q_t.data_ptr<T>();
  const T* k = k_t.data_ptr<T>();
  const T* rpb = rpb_t.defined() ? rpb_t.data_ptr<T>() : nullptr;
  T* attn = attn_t.data_ptr<T>();
  const bool any_causal = p.any_causal();
  parallel_over_queries(p, g, D, [&](int64_t n, int64_t bh, const Coord3& i) {
    const T* qrow = q + n * D;
    const T* kbase = k + bh * T_ * D;
    T* out = attn + n * W;
    const T* bias = rpb ? rpb + (bh % g.heads) * g.bias_size() : nullptr;
    if (any_causal)
      for (int64_t s = 0; s < W; ++s) out[s] = -std::numeric_limits<T>::infinity();
    for_each_key(g, i, [&](int64_t slot, int64_t key, int64_t b) {
      out[slot] = dot(qrow, kbase + key * D, D) + (bias ? bias[b] : T(0));
    });
  });
}

template <typename T>
void av_forward_impl(const Problem& p, const at::Tensor& attn_t, const at::Tensor& v_t,
                     at::Tensor& out_t) {
  const Geometry g = geometry(p);
  const int64_t Dv = v_t.size(-1), T_ = g.tokens(), W = g.window_size();
  const T* attn = attn_t.data_ptr<T>();
  const T* v = v_t.data_ptr<T>();
  T* out = out_t.data_ptr<T>();
  parallel_over_queries(p, g, Dv, [&](int64_t n, int64_t bh, const Coord3& i) {
    const T* a = attn + n * W;
    const T* vbase = v + bh * T_ * Dv;
    T* orow = out + n * Dv;
    for (int64_t c = 0; c < Dv; ++c) orow[c] = 0;
    for_each_key(g, i, [&](int64_t slot, int64_t key, int64_t) {
      axpy(a[slot], vbase + key * Dv, orow, Dv);
    });
  });
}

template <typename T>
void qk_backward_impl(const Problem& p, const at::Tensor& ga_t, const at::Tensor& q_t,
                      const at::Tensor& k_t, at::Tensor& dq_t, at::Tensor& dk_t,
                      at::Tensor& drpb_t) {
  const Geometry g = geometry(p);
  const int64_t D = p.dim, T_ = g.tokens(), W = g.window_size(), R = g.bias_size();
  const T* ga = ga_t.data_ptr<T>();
  const T* q = q_t.data_ptr<T>();
  const T* k = k_t.data_ptr<T>();
  T* dq = dq_t.data_ptr<T>();
  T* dk = dk_t.data_ptr<T>();
  BiasGradAccumulator<T> drpb(g.heads * R, drpb_t.defined());

  // dq and the bias gradient: gather over each query's window.
  parallel_over_queries(p, g, D, [&](int64_t n, int64_t bh, const Coord3& i) {
    const T* grow = ga + n * W;
    const T* kbase = k + bh * T_ * D;
    T* dqrow = dq + n * D;
    T* bias_grad = drpb.local();
    T* bg = bias_grad ? bias_grad + (bh % g.heads) * R : nullptr;
    for (int64_t c = 0; c < D; ++c) dqrow[c] = 0;
    for_each_key(g, i, [&](int64_t slot, int64_t key, int64_t b) {
      axpy(grow[slot], kbase + key * D, dqrow, D);
      if (bg) bg[b] += grow[slot];
    });
  });
  if (drpb_t.defined()) drpb.reduce_into(drpb_t.data_ptr<T>());

  // dk_j = sum over the queries i that see key j of dattn[i, slot] * q_i.
  gather_inverse(p, g, ga, q, D, dk);
}

template <typename T>
void av_backward_impl(const Problem& p, const at::Tensor& go_t, const at::Tensor& attn_t,
                      const at::Tensor& v_t, at::Tensor& dattn_t, at::Tensor& dv_t) {
  const Geometry g = geometry(p);
  const int64_t Dv = v_t.size(-1), T_ = g.tokens(), W = g.window_size();
  const T* go = go_t.data_ptr<T>();
  const T* attn = attn_t.data_ptr<T>();
  const T* v = v_t.data_ptr<T>();
  T* dattn = dattn_t.data_ptr<T>();
  T* dv = dv_t.data_ptr<T>();
  parallel_over_queries(p, g, Dv, [&](int64_t n, int64_t bh, const Coord3& i) {
    const T* grow = go + n * Dv;
    const T* vbase = v + bh * T_ * Dv;
    T* darow = dattn + n * W;
    for (int64_t s = 0; s < W; ++s) darow[s] = 0;
    for_each_key(g, i, [&](int64_t slot, int64_t key, int64_t) {
      darow[slot] = dot(grow, vbase + key * Dv, Dv);
    });
  });
  // dv_j = sum over the queries i that see key j of attn[i, slot] * dout_i.
  gather_inverse(p, g, attn, go, Dv, dv);
}

template <typename T>
void fused_forward_impl(const Problem& p, const at::Tensor& q_t, const at::Tensor& k_t,
                        const at::Tensor& v_t, const at::Tensor& rpb_t, double scale_d,
                        at::Tensor& out_t, at::Tensor& lse_t) {
  const Geometry g = geometry(p);
  const int64_t D = p.dim, Dv = v_t.size(-1), T_ = g.tokens(), W = g.window_size();
  const T* q = q_t.data_ptr<T>();
  const T* k = k_t.data_ptr<T>();
  const T* v = v_t.data_ptr<T>();
  const T* rpb = rpb_t.defined() ? rpb_t.data_ptr<T>() : nullptr;
  T* out = out_t.data_ptr<T>();
  T* lse = lse_t.data_ptr<T>();
  const T scale = static_cast<T>(scale_d);
  at::parallel_for(0, p.batch * p.heads * T_, grain(g, D + Dv), [&](int64_t begin, int64_t end) {
    Coord3 i;
    // One query's logits and key rows: O(window) scratch, never the attention matrix.
    std::vector<T> logits(W);
    std::vector<int64_t> keys(W);
    for (int64_t n = begin; n < end; ++n) {
      const int64_t bh = n / T_;
      i = token_coord(g, n % T_);
      const T* qrow = q + n * D;
      const T* kbase = k + bh * T_ * D;
      const T* vbase = v + bh * T_ * Dv;
      const T* bias = rpb ? rpb + (bh % g.heads) * g.bias_size() : nullptr;
      int64_t count = 0;
      T max_logit = -std::numeric_limits<T>::infinity();
      for_each_key(g, i, [&](int64_t, int64_t key, int64_t b) {
        const T s = dot(qrow, kbase + key * D, D) * scale + (bias ? bias[b] : T(0));
        logits[count] = s;
        keys[count] = key;
        max_logit = std::max(max_logit, s);
        ++count;
      });
      T* orow = out + n * Dv;
      for (int64_t c = 0; c < Dv; ++c) orow[c] = 0;
      T sum = 0;
      for (int64_t s = 0; s < count; ++s) {
        const T e = std::exp(logits[s] - max_logit);
        sum += e;
        axpy(e, vbase + keys[s] * Dv, orow, Dv);
      }
      const T inv = T(1) / sum;
      for (int64_t c = 0; c < Dv; ++c) orow[c] *= inv;
      lse[n] = max_logit + std::log(sum);
    }
  });
}

template <typename T>
void fused_backward_impl(const Problem& p, const at::Tensor& go_t, const at::Tensor& q_t,
                         const at::Tensor& k_t, const at::Tensor& v_t, const at::Tensor& rpb_t,
                         const at::Tensor& out_t, const at::Tensor& lse_t, double scale_d,
                         at::Tensor& dq_t, at::Tensor& dk_t, at::Tensor& dv_t, at::Tensor& drpb_t) {
  const Geometry g = geometry(p);
  const int64_t D = p.dim, Dv = v_t.size(-1), T_ = g.tokens(), R = g.bias_size();
  const int64_t N = p.batch * p.heads * T_;
  const T* go = go_t.data_ptr<T>();
  const T* q = q_t.data_ptr<T>();
  const T* k = k_t.data_ptr<T>();
  const T* v = v_t.data_ptr<T>();
  const T* rpb = rpb_t.defined() ? rpb_t.data_ptr<T>() : nullptr;
  const T* out = out_t.data_ptr<T>();
  const T* lse = lse_t.data_ptr<T>();
  T* dq = dq_t.data_ptr<T>();
  T* dk = dk_t.data_ptr<T>();
  T* dv = dv_t.data_ptr<T>();
  const T scale = static_cast<T>(scale_d);

  // delta_i = dout_i · out_i, the softmax-backward correction shared by a query's window.
  std::vector<T> delta(N);
  at::parallel_for(0, N, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) delta[n] = dot(go + n * Dv, out + n * Dv, Dv);
  });

  // Pass over queries: dq and the bias gradient.
  BiasGradAccumulator<T> drpb(g.heads * R, drpb_t.defined());
  parallel_over_queries(p, g, 2 * D + Dv, [&](int64_t n, int64_t bh, const Coord3& i) {
    const T* qrow = q + n * D;
    const T* grow = go + n * Dv;
    const T* kbase = k + bh * T_ * D;
    const T* vbase = v + bh * T_ * Dv;
    const T* bias = rpb ? rpb + (bh % g.heads) * R : nullptr;
    T* bias_grad = drpb.local();
    T* bg = bias_grad ? bias_grad + (bh % g.heads) * R : nullptr;
    T* dqrow = dq + n * D;
    for (int64_t c = 0; c < D; ++c) dqrow[c] = 0;
    for_each_key(g, i, [&](int64_t, int64_t key, int64_t b) {
      const T s = dot(qrow, kbase + key * D, D) * scale + (bias ? bias[b] : T(0));
      const T prob = std::exp(s - lse[n]);
      const T ds = prob * (dot(grow, vbase + key * Dv, Dv) - delta[n]);
      axpy(ds * scale, kbase + key * D, dqrow, D);
      if (bg) bg[b] += ds;
    });
  });
  if (drpb_t.defined()) drpb.reduce_into(drpb_t.data_ptr<T>());

  // Pass over keys: dk and dv from the inverse neighbourhood (probabilities recomputed).
  at::parallel_for(0, N, grain(g, 2 * D + 2 * Dv), [&](int64_t begin, int64_t end) {
    Coord3 j;
    std::vector<int64_t> scratch(inverse_scratch_size(g));
    for (int64_t n = begin; n < end; ++n) {
      const int64_t bh = n / T_;
      j = token_coord(g, n % T_);
      const T* krow = k + n * D;
      const T* vrow = v + n * Dv;
      const T* qbase = q + bh * T_ * D;
      const T* gbase = go + bh * T_ * Dv;
      const T* bias = rpb ? rpb + (bh % g.heads) * R : nullptr;
      const int64_t first = bh * T_;
      T* dkrow = dk + n * D;
      T* dvrow = dv + n * Dv;
      for (int64_t c = 0; c < D; ++c) dkrow[c] = 0;
      for (int64_t c = 0; c < Dv; ++c) dvrow[c] = 0;
      for_each_query(g, j, scratch.data(), [&](int64_t query, int64_t, int64_t b) {
        const T* qrow = qbase + query * D;
        const T* grow = gbase + query * Dv;
        const T s = dot(qrow, krow, D) * scale + (bias ? bias[b] : T(0));
        const T prob = std::exp(s - lse[first + query]);
        const T ds = prob * (dot(grow, vrow, Dv) - delta[first + query]);
        axpy(ds * scale, qrow, dkrow, D);
        axpy(prob, grow, dvrow, Dv);
      });
    }
  });
}

// The row layout (na_cpu_fast.h) of x [B, heads, L0, L1, L2, X]: rows of X contiguous
// elements, tokens nested in L0, L1, L2 order; batch and head strides free.
fast::RowLayout row_layout(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 6 && x.stride(5) == 1 && x.stride(3) == x.size(4) * x.stride(4) &&
                  x.stride(2) == x.size(3) * x.stride(3),
              "neighborhood attention: unsupported row layout ", x.sizes(), " / ", x.strides());
  return {x.stride(0), x.stride(1), x.stride(4)};
}

// The layout of q, which k and the query gradient share (the kernels index all three with
// q_rows).
fast::RowLayout same_rows(const at::Tensor& q, const at::Tensor& other, const char* name) {
  const fast::RowLayout layout = row_layout(q);
  TORCH_CHECK(other.sizes() == q.sizes() && row_layout(other) == layout,
              "neighborhood attention: ", name, " must have the query's shape and row layout");
  return layout;
}

// What the tiled float32 kernels (na_cpu_fast.h) need besides the tensors: where each
// dilation group starts in the group-major order of axis 2, and the axis-2 tiles.
struct TilePlan {
  const fast::Kernels& kernels;
  std::vector<int64_t> group_offset;
  std::vector<fast::Tile> tiles;
  int64_t rows;  // B * heads * L0 * L1

  explicit TilePlan(const Problem& p) : kernels(fast::kernels()) {
    const int64_t L2 = p.length[2], d2 = p.dilation[2];
    group_offset.resize(d2);
    for (int64_t g = 0, offset = 0; g < d2; ++g) {
      group_offset[g] = offset;
      offset += group_length(L2, d2, g);
    }
    tiles = fast::make_tiles(L2, p.kernel[2], d2, p.causal[2], kernels.tile_width);
    rows = p.batch * p.heads * p.length[0] * p.length[1];
  }

  // x [B, heads, L0, L1, L2, width] (any row layout) -> [rows, width, L2'] (group-major),
  // with kTile zeros before and after: lane-shifted tile loads may start up to kTile-1
  // columns early or end late. Returns the buffer; the transposed data starts at
  // data_ptr() + kTile.
  at::Tensor transpose(const at::Tensor& x, int64_t L2, int64_t d2) const {
    const int64_t width = x.size(-1), body = rows * width * L2;
    at::Tensor xt = at::empty({body + 2 * fast::kTile}, x.options());
    xt.narrow(0, 0, fast::kTile).zero_();
    xt.narrow(0, fast::kTile + body, fast::kTile).zero_();
    if (L2 % d2 == 0) {
      // Every group has L2/d2 columns: position c*d2 + g goes to column g*(L2/d2) + c, a plain
      // permutation that ATen's blocked copy does ~4x faster than a scalar loop.
      const int64_t columns = L2 / d2;
      std::vector<int64_t> shape = x.sizes().vec();  // [B, heads, L0, L1, width, d2, columns]
      shape.pop_back();
      shape.back() = width;
      shape.push_back(d2);
      shape.push_back(columns);
      xt.narrow(0, fast::kTile, body)
          .view(shape)
          .copy_(x.unflatten(4, {columns, d2}).permute({0, 1, 2, 3, 6, 5, 4}));
      return xt;
    }
    fast::TransposeArgs ta;
    ta.rows = rows;
    ta.L2 = L2;
    ta.d2 = d2;
    ta.dim = width;
    ta.heads = x.size(1);
    ta.rows_per_head = x.size(2) * x.size(3);
    ta.layout = row_layout(x);
    ta.k = x.data_ptr<float>();
    ta.kt = xt.data_ptr<float>() + fast::kTile;
    ta.group_offset = group_offset.data();
    at::parallel_for(0, rows, std::max<int64_t>(1, 8192 / (L2 * width)),
                     [&](int64_t b, int64_t e) { kernels.transpose_keys(ta, b, e); });
    return xt;
  }

  void describe(const Problem& p, fast::TiledShape& args) const {
    args.batch_heads = p.batch * p.heads;
    args.heads = p.heads;
    for (int a = 0; a < 3; ++a) {
      args.L[a] = p.length[a];
      args.K[a] = p.kernel[a];
      args.d[a] = p.dilation[a];
      args.causal[a] = p.causal[a];
    }
    args.tile = tiles.data();
    args.tiles = static_cast<int64_t>(tiles.size());
    args.group_offset = group_offset.data();
  }
};

void fused_forward_tiled(const Problem& p, const at::Tensor& q, const at::Tensor& k,
                         const at::Tensor& v, const at::Tensor& rpb, double scale, at::Tensor& out,
                         at::Tensor& lse) {
  const TilePlan plan(p);
  const at::Tensor kt = plan.transpose(k, p.length[2], p.dilation[2]);
  fast::FusedForwardArgs fa;
  plan.describe(p, fa);
  fa.dim = p.dim;
  fa.value_dim = v.size(-1);
  fa.q_rows = same_rows(q, k, "k");
  fa.v_rows = row_layout(v);
  fa.out_rows = row_layout(out);
  fa.q = q.data_ptr<float>();
  fa.kt = kt.data_ptr<float>() + fast::kTile;
  fa.v = v.data_ptr<float>();
  fa.rpb = rpb.defined() ? rpb.data_ptr<float>() : nullptr;
  fa.scale = static_cast<float>(scale);
  fa.out = out.data_ptr<float>();
  fa.lse = lse.data_ptr<float>();
  at::parallel_for(0, plan.rows * fa.tiles, 1,
                   [&](int64_t b, int64_t e) { plan.kernels.fused_forward(fa, b, e); });
}

void qk_forward_tiled(const Problem& p, const at::Tensor& q, const at::Tensor& k,
                      const at::Tensor& rpb, at::Tensor& attn) {
  const TilePlan plan(p);
  const at::Tensor kt = plan.transpose(k, p.length[2], p.dilation[2]);
  fast::QkForwardArgs qa;
  plan.describe(p, qa);
  qa.dim = p.dim;
  qa.value_dim = p.dim;
  qa.q_rows = same_rows(q, k, "k");
  qa.q = q.data_ptr<float>();
  qa.kt = kt.data_ptr<float>() + fast::kTile;
  qa.rpb = rpb.defined() ? rpb.data_ptr<float>() : nullptr;
  qa.attn = attn.data_ptr<float>();
  at::parallel_for(0, plan.rows * qa.tiles, 1,
                   [&](int64_t b, int64_t e) { plan.kernels.qk_forward(qa, b, e); });
}

void av_forward_tiled(const Problem& p, const at::Tensor& attn, const at::Tensor& v,
                      at::Tensor& out) {
  const TilePlan plan(p);
  fast::AvForwardArgs aa;
  plan.describe(p, aa);
  aa.dim = p.dim;
  aa.value_dim = v.size(-1);
  aa.v_rows = row_layout(v);
  aa.out_rows = row_layout(out);
  aa.attn = attn.data_ptr<float>();
  aa.v = v.data_ptr<float>();
  aa.out = out.data_ptr<float>();
  at::parallel_for(0, plan.rows * aa.tiles, 1,
                   [&](int64_t b, int64_t e) { plan.kernels.av_forward(aa, b, e); });
}

void fused_backward_tiled(const Problem& p, const at::Tensor& go, const at::Tensor& q,
                          const at::Tensor& k, const at::Tensor& v, const at::Tensor& rpb,
                          const at::Tensor& out, const at::Tensor& lse, double scale,
                          at::Tensor& dq, at::Tensor& dk, at::Tensor& dv, at::Tensor& drpb) {
  const TilePlan plan(p);
  const int64_t L2 = p.length[2], d2 = p.dilation[2], D = p.dim, Dv = v.size(-1);
  const at::Tensor kt = plan.transpose(k, L2, d2), vt = plan.transpose(v, L2, d2);
  const at::Tensor delta = (go * out).sum(-1).contiguous();
  // Per-thread partial gradients: dK/dV/dRPB are scattered from query tiles.
  const int threads = at::get_num_threads();
  const int64_t tokens = p.batch * p.heads * p.tokens();
  at::Tensor dk_partial = at::zeros({threads, tokens * D}, q.options());
  at::Tensor dv_partial = at::zeros({threads, tokens * Dv}, q.options());
  at::Tensor drpb_partial =
      drpb.defined() ? at::zeros({threads, p.heads * p.bias_size()}, q.options()) : at::Tensor();

  fast::FusedBackwardArgs ba;
  plan.describe(p, ba);
  ba.dim = D;
  ba.value_dim = Dv;
  ba.q_rows = same_rows(q, k, "k");
  same_rows(q, dq, "the query gradient");
  ba.v_rows = row_layout(v);
  ba.out_rows = row_layout(go);
  ba.q = q.data_ptr<float>();
  ba.k = k.data_ptr<float>();
  ba.kt = kt.data_ptr<float>() + fast::kTile;
  ba.vt = vt.data_ptr<float>() + fast::kTile;
  ba.dout = go.data_ptr<float>();
  ba.lse = lse.data_ptr<float>();
  ba.delta = delta.data_ptr<float>();
  ba.rpb = rpb.defined() ? rpb.data_ptr<float>() : nullptr;
  ba.scale = static_cast<float>(scale);
  ba.dq = dq.data_ptr<float>();
  ba.dk_partial = dk_partial.data_ptr<float>();
  ba.dv_partial = dv_partial.data_ptr<float>();
  ba.drpb_partial = drpb.defined() ? drpb_partial.data_ptr<float>() : nullptr;
  ba.partial_stride_k = tokens * D;
  ba.partial_stride_v = tokens * Dv;
  ba.partial_stride_rpb = p.heads * p.bias_size();
  at::parallel_for(0, plan.rows * ba.tiles, 1, [&](int64_t b, int64_t e) {
    plan.kernels.fused_backward(ba, b, e, at::get_thread_num());
  });
  // One thread (the trainer's batch slices each run on one) has nothing to sum.
  const auto reduced = [&](const at::Tensor& partial, const at::Tensor& like) {
    return (threads == 1 ? partial.select(0, 0) : partial.sum(0)).view(like.sizes());
  };
  dk.copy_(reduced(dk_partial, dk));
  dv.copy_(reduced(dv_partial, dv));
  if (drpb.defined()) drpb.copy_(reduced(drpb_partial, drpb));
}

template <typename Fn>
void dispatch_float(const Problem& p, Fn&& fn) {
  switch (p.dtype) {
    case at::kFloat: fn(float{}); break;
    case at::kDouble: fn(double{}); break;
    default: TORCH_CHECK(false, p.op, ": CPU kernels support float32 and float64, got ", p.dtype);
  }
}

}  // namespace

void qk_forward(const Problem& p, const at::Tensor& q, const at::Tensor& k, const at::Tensor& rpb,
                at::Tensor& attn) {
  if (p.dtype == at::kFloat) return qk_forward_tiled(p, q, k, rpb, attn);
  dispatch_float(p, [&](auto tag) { qk_forward_impl<decltype(tag)>(p, q, k, rpb, attn); });
}

void av_forward(const Problem& p, const at::Tensor& attn, const at::Tensor& v, at::Tensor& out) {
  if (p.dtype == at::kFloat) return av_forward_tiled(p, attn, v, out);
  dispatch_float(p, [&](auto tag) { av_forward_impl<decltype(tag)>(p, attn, v, out); });
}

void qk_backward(const Problem& p, const at::Tensor& grad_attn, const at::Tensor& q,
                 const at::Tensor& k, at::Tensor& grad_q, at::Tensor& grad_k,
                 at::Tensor& grad_rpb) {
  dispatch_float(p, [&](auto tag) {
    qk_backward_impl<decltype(tag)>(p, grad_attn, q, k, grad_q, grad_k, grad_rpb);
  });
}

void av_backward(const Problem& p, const at::Tensor& grad_out, const at::Tensor& attn,
                 const at::Tensor& v, at::Tensor& grad_attn, at::Tensor& grad_v) {
  dispatch_float(p, [&](auto tag) {
    av_backward_impl<decltype(tag)>(p, grad_out, attn, v, grad_attn, grad_v);
  });
}

void fused_forward(const Problem& p, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                   const at::Tensor& rpb, double scale, at::Tensor& out, at::Tensor& lse) {
  if (p.dtype == at::kFloat) return fused_forward_tiled(p, q, k, v, rpb, scale, out, lse);
  dispatch_float(
      p, [&](auto tag) { fused_forward_impl<decltype(tag)>(p, q, k, v, rpb, scale, out, lse); });
}

void fused_backward(const Problem& p, const at::Tensor& grad_out, const at::Tensor& q,
                    const at::Tensor& k, const at::Tensor& v, const at::Tensor& rpb,
                    const at::Tensor& out, const at::Tensor& lse, double scale, at::Tensor& grad_q,
                    at::Tensor& grad_k, at::Tensor& grad_v, at::Tensor& grad_rpb) {
  if (p.dtype == at::kFloat)
    return fused_backward_tiled(p, grad_out, q, k, v, rpb, out, lse, scale, grad_q, grad_k, grad_v,
                                grad_rpb);
  dispatch_float(p, [&](auto tag) {
    fused_backward_impl<decltype(tag)>(p, grad_out, q, k, v, rpb, out, lse, scale, grad_q, grad_k,
                                       grad_v, grad_rpb);
  });
}

}  // namespace vitrine::attention::na::cpu
