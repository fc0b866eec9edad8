// The tensor-core fused backward of neighborhood attention, in FlashAttention-2 form over the
// forward's multi-dimensional tiles (na_fna_plan.h), against the same execution context as
// na_fna_forward.cuh (the GPU in na_fna.cu, fibers on the CPU in tests/kernels/host_cta.h).
//
// With logits S = scale * Q.K^T + rpb, P = exp(S - lse) from the forward's saved log-sum-exp,
// delta = rowsum(dO * O) (na_row_dot, before these passes):
//   dV = P^T.dO,  dP = dO.V^T,  dS = P * (dP - delta),  dQ = scale * dS.K,  dK = scale * dS^T.Q,
//   drpb[cell] = sum of dS over the (query, key) pairs of that relative position.
// Two passes, so that nothing but the bias gradient is accumulated across CTAs:
//   * query_grad_cta: tiles of 64 queries (Side::kQueries), walking their windows' key box in
//     chunks of 64 keys; recomputes P and dP and accumulates dQ in registers. The bias
//     gradient goes to a per-CTA table in shared memory (shared atomics) that is added to the
//     global one once per touched cell per CTA at the end, instead of one global atomic per
//     (query, key) pair; tables too large for shared memory (3-D kernels over ~16) fall back
//     to the global atomics.
//   * key_grad_cta: tiles of 64 keys (Side::kKeys), walking the box of queries whose windows
//     reach them (the inverse neighbourhoods) in chunks of kKeyPassChunk<D> queries; S^T and
//     dP^T have keys as rows, so P^T and dS^T come straight out of the accumulators as the A
//     operands of dV += P^T.dO and dK += dS^T.Q.
// Each warp owns 16 rows of its pass's tile. P and dS are rounded to the storage type as the
// tensor cores take them, as FlashAttention does.
#pragma once

#include <cstdint>

#include "na/cuda/na_fna_fragments.cuh"

namespace vitrine::cuda::fna {

template <typename E>
struct BackwardArgs {
  const E* q = nullptr;
  const E* k = nullptr;
  const E* v = nullptr;
  const E* rpb = nullptr;  // [heads][E0][E1][E2] or null
  const E* grad_out = nullptr;
  const float* lse = nullptr;    // the forward's, per query token
  const float* delta = nullptr;  // rowsum(grad_out * out), per query token
  E* grad_q = nullptr;
  E* grad_k = nullptr;
  E* grad_v = nullptr;
  float* grad_rpb = nullptr;  // [heads][bias_size] float32, zeroed by the caller; null: no rpb
  float scale = 1;
};

template <typename E>
VITRINE_HD BackwardArgs<E> backward_args(const void* grad_out, const void* q, const void* k,
                                         const void* v, const void* rpb, const float* lse,
                                         const float* delta, float scale, void* grad_q,
                                         void* grad_k, void* grad_v, float* grad_rpb) {
  BackwardArgs<E> a;
  a.q = static_cast<const E*>(q);
  a.k = static_cast<const E*>(k);
  a.v = static_cast<const E*>(v);
  a.rpb = static_cast<const E*>(rpb);
  a.grad_out = static_cast<const E*>(grad_out);
  a.lse = lse;
  a.delta = delta;
  a.grad_q = static_cast<E*>(grad_q);
  a.grad_k = static_cast<E*>(grad_k);
  a.grad_v = static_cast<E*>(grad_v);
  a.grad_rpb = rpb != nullptr ? grad_rpb : nullptr;
  a.scale = scale;
  return a;
}

// Bias tables of at most this many cells are reduced in shared memory (16 KB).
constexpr int kSharedBiasCells = 4096;

VITRINE_HD bool bias_in_shared(const Geometry& g, bool has_rpb) {
  return has_rpb && g.bias_size() <= kSharedBiasCells;
}

// ---------------------------------------------------------------- dQ and drpb (query tiles)

// A key of the current chunk (as the forward's KeySlot).
struct GradKeySlot {
  int at[3];
  int token;
};

// Shared memory of the query pass: Q and dO tiles, K and V chunks, the chunk's key slots, then
// the bias-gradient table when bias_in_shared().
template <int D>
struct QueryGradTiles {
  static constexpr int kStride = kRowStride<D>;
  static constexpr int kQ = 0;
  static constexpr int kGradOut = kQ + kTile * kStride;
  static constexpr int kK = kGradOut + kTile * kStride;
  static constexpr int kV = kK + kChunk * kStride;
  static constexpr int kElements = kV + kChunk * kStride;
  template <typename E>
  static constexpr size_t kSlotsOffset = kElements * sizeof(E);
  template <typename E>
  static constexpr size_t kBiasOffset = kSlotsOffset<E> + kChunk * sizeof(GradKeySlot);
  template <typename E>
  static size_t bytes(const Geometry& g, bool has_rpb) {
    return kBiasOffset<E> + (bias_in_shared(g, has_rpb) ? g.bias_size() * sizeof(float) : 0);
  }
};

// The whole CTA `cta` of the query pass (every thread of the CTA calls this); `smem` is
// QueryGradTiles<D>::bytes() of 16-byte-aligned shared memory.
template <typename E, int D, class Ctx>
VITRINE_HD void query_grad_cta(Ctx& ctx, const Geometry& g, const BackwardArgs<E>& args,
                               const TileShape& shape, int64_t cta, unsigned char* smem) {
  static_assert(D % 16 == 0, "head dim must be a multiple of 16");
  using Tiles = QueryGradTiles<D>;
  constexpr int kDimBlocks = D / 8;
  const CtaPlan plan = plan_cta(g, shape, cta, Side::kQueries);
  if (plan.empty) return;  // uniform over the CTA
  const int tid = ctx.thread();
  const int warp = tid / 32, lane = tid % 32, gr = lane / 4, tq = lane % 4;
  const int64_t base = plan.bh * g.tokens();
  E* const tiles = reinterpret_cast<E*>(smem);
  GradKeySlot* const slots = reinterpret_cast<GradKeySlot*>(smem + Tiles::template kSlotsOffset<E>);
  const bool shared_bias = bias_in_shared(g, args.grad_rpb != nullptr);
  float* const bias_sum = reinterpret_cast<float*>(smem + Tiles::template kBiasOffset<E>);
  const int64_t head = plan.bh % g.heads;
  const int64_t bias_base = head * g.bias_size();
  float* const bias_grad = shared_bias                ? bias_sum
                           : args.grad_rpb != nullptr ? args.grad_rpb + bias_base
                                                      : nullptr;

  if (shared_bias)
    for (int64_t c = tid; c < g.bias_size(); c += kThreads) bias_sum[c] = 0;
  auto query_token = [=, &g](int r) -> int64_t {
    int64_t c[3];
    return tile_member(shape, plan, r, c) ? token_of(g, plan, c) : -1;
  };
  stage<E, D>(ctx, args.q, base, tiles + Tiles::kQ, kTile, query_token);
  stage<E, D>(ctx, args.grad_out, base, tiles + Tiles::kGradOut, kTile, query_token);

  // The two query rows this lane holds: windows, saved log-sum-exp and delta.
  QueryWindow win[2];
  float lse[2], delta[2];
  VITRINE_UNROLL
  for (int h = 0; h < 2; ++h) {
    win[h] = query_window(g, shape, plan, warp * 16 + gr + 8 * h);
    const int64_t token = win[h].valid ? base + token_of(g, plan, win[h].at) : -1;
    lse[h] = token >= 0 ? args.lse[token] : 0.0f;
    delta[h] = token >= 0 ? args.delta[token] : 0.0f;
  }
  float dq[kDimBlocks][4];
  VITRINE_UNROLL
  for (int n = 0; n < kDimBlocks; ++n)
    for (int i = 0; i < 4; ++i) dq[n][i] = 0;

  const int64_t keys = plan.reach.volume();
  for (int64_t chunk = 0; chunk < plan.chunks(); ++chunk) {
    const int64_t first_key = chunk * kChunk;
    ctx.sync();  // the previous chunk's K, V and slots are no longer read (and Q, dO staged)
    if (tid < kChunk) {
      int64_t c[3];
      const bool real = reach_member(plan, first_key + tid, c);
      GradKeySlot& slot = slots[tid];
      VITRINE_UNROLL
      for (int a = 0; a < 3; ++a) slot.at[a] = static_cast<int>(c[a]);
      slot.token = real ? static_cast<int>(token_of(g, plan, c)) : -1;
    }
    ctx.sync();
    auto key_token = [slots](int r) -> int64_t { return slots[r].token; };
    stage<E, D>(ctx, args.k, base, tiles + Tiles::kK, kChunk, key_token);
    stage<E, D>(ctx, args.v, base, tiles + Tiles::kV, kChunk, key_token);
    ctx.sync();

    // S = Q.K^T and dP = dO.V^T, 8 blocks of 8 keys.
    float s[kChunk / 8][4], dp[kChunk / 8][4];
    paired_score_products<E, D, kChunk>(ctx, s, dp, tiles + Tiles::kQ, tiles + Tiles::kK,
                                        tiles + Tiles::kGradOut, tiles + Tiles::kV, warp * 16,
                                        keys - first_key, lane);

    // dS = P * (dP - delta), 0 outside the window; its sum per relative position is drpb.
    VITRINE_UNROLL
    for (int n = 0; n < kChunk / 8; ++n)
      for (int i = 0; i < 4; ++i) {
        const int h = i / 2;
        const GradKeySlot& slot = slots[n * 8 + 2 * tq + i % 2];
        const int64_t kc[3] = {slot.at[0], slot.at[1], slot.at[2]};
        float ds = 0;
        if (slot.token >= 0 && attends(win[h], kc)) {
          float logit = s[n][i] * args.scale;
          int64_t cell = 0;
          if (args.rpb != nullptr) {
            cell = bias_cell(g, win[h], kc);
            logit += static_cast<float>(args.rpb[bias_base + cell]);
          }
          ds = ctx.exp(logit - lse[h]) * (dp[n][i] - delta[h]);
          if (args.grad_rpb != nullptr) ctx.atomic_add(bias_grad + cell, ds);
        }
        s[n][i] = ds;
      }

    // dQ += dS.K, 16 keys per step.
    accumulate_product<E, D, kChunk>(ctx, dq, s, tiles + Tiles::kK, keys - first_key, lane);
  }

  VITRINE_UNROLL
  for (int h = 0; h < 2; ++h) {
    if (!win[h].valid) continue;
    const int64_t token = base + token_of(g, plan, win[h].at);
    VITRINE_UNROLL
    for (int n = 0; n < kDimBlocks; ++n)
      for (int i = 2 * h; i < 2 * h + 2; ++i)
        args.grad_q[token * D + n * 8 + 2 * tq + i % 2] = static_cast<E>(dq[n][i] * args.scale);
  }
  if (shared_bias) {
    ctx.sync();  // every pair's term is in the CTA's table
    for (int64_t c = tid; c < g.bias_size(); c += kThreads)
      if (bias_sum[c] != 0.0f) ctx.atomic_add(args.grad_rpb + bias_base + c, bias_sum[c]);
  }
}

// ---------------------------------------------------------------- dK and dV (key tiles)

// Queries per chunk of the key pass: 32 at head dim 128, where the dK and dV accumulators
// already take 128 registers per thread.
template <int D>
constexpr int kKeyPassChunk = D >= 128 ? 32 : 64;

// A query of the current chunk: its group coordinates, its window, its token (-1 past the box)
// and its saved log-sum-exp and delta.
struct GradQuerySlot {
  int at[3];
  int first[3];
  int count[3];  // 0 on every axis for a token past the box
  int token;
  float lse;
  float delta;
};

// Shared memory of the key pass: K and V tiles, Q and dO chunks, the chunk's query slots.
template <int D>
struct KeyGradTiles {
  static constexpr int kStride = kRowStride<D>;
  static constexpr int kQueries = kKeyPassChunk<D>;
  static constexpr int kK = 0;
  static constexpr int kV = kK + kTile * kStride;
  static constexpr int kQ = kV + kTile * kStride;
  static constexpr int kGradOut = kQ + kQueries * kStride;
  static constexpr int kElements = kGradOut + kQueries * kStride;
  template <typename E>
  static constexpr size_t kSlotsOffset = kElements * sizeof(E);
  template <typename E>
  static constexpr size_t bytes() {
    return kSlotsOffset<E> + kQueries * sizeof(GradQuerySlot);
  }
};

template <typename E, int D, class Ctx>
VITRINE_HD void key_grad_cta(Ctx& ctx, const Geometry& g, const BackwardArgs<E>& args,
                             const TileShape& shape, int64_t cta, unsigned char* smem) {
  static_assert(D % 16 == 0, "head dim must be a multiple of 16");
  using Tiles = KeyGradTiles<D>;
  constexpr int kQueries = Tiles::kQueries;
  constexpr int kDimBlocks = D / 8;
  const CtaPlan plan = plan_cta(g, shape, cta, Side::kKeys);
  if (plan.empty) return;  // uniform over the CTA
  const int tid = ctx.thread();
  const int warp = tid / 32, lane = tid % 32, gr = lane / 4, tq = lane % 4;
  const int64_t base = plan.bh * g.tokens();
  E* const tiles = reinterpret_cast<E*>(smem);
  GradQuerySlot* const slots =
      reinterpret_cast<GradQuerySlot*>(smem + Tiles::template kSlotsOffset<E>);
  const int64_t bias_base = (plan.bh % g.heads) * g.bias_size();

  auto key_token = [=, &g](int r) -> int64_t {
    int64_t c[3];
    return tile_member(shape, plan, r, c) ? token_of(g, plan, c) : -1;
  };
  stage<E, D>(ctx, args.k, base, tiles + Tiles::kK, kTile, key_token);
  stage<E, D>(ctx, args.v, base, tiles + Tiles::kV, kTile, key_token);

  // The two key rows this lane holds.
  int64_t key_at[2][3];
  bool key_valid[2];
  VITRINE_UNROLL
  for (int h = 0; h < 2; ++h)
    key_valid[h] = tile_member(shape, plan, warp * 16 + gr + 8 * h, key_at[h]);
  float dk[kDimBlocks][4], dv[kDimBlocks][4];
  VITRINE_UNROLL
  for (int n = 0; n < kDimBlocks; ++n)
    for (int i = 0; i < 4; ++i) dk[n][i] = dv[n][i] = 0;

  const int64_t queries = plan.reach.volume();
  const int64_t chunks = (queries + kQueries - 1) / kQueries;
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    const int64_t first_query = chunk * kQueries;
    ctx.sync();  // the previous chunk's Q, dO and slots are no longer read (and K, V staged)
    if (tid < kQueries) {
      int64_t c[3];
      const bool real = reach_member(plan, first_query + tid, c);
      const QueryWindow w = window_at(g, plan, c, real);
      GradQuerySlot& slot = slots[tid];
      VITRINE_UNROLL
      for (int a = 0; a < 3; ++a) {
        slot.at[a] = static_cast<int>(c[a]);
        slot.first[a] = static_cast<int>(w.first[a]);
        slot.count[a] = static_cast<int>(w.count[a]);
      }
      const int64_t token = real ? token_of(g, plan, c) : -1;
      slot.token = static_cast<int>(token);
      slot.lse = real ? args.lse[base + token] : 0.0f;
      slot.delta = real ? args.delta[base + token] : 0.0f;
    }
    ctx.sync();
    auto query_token = [slots](int r) -> int64_t { return slots[r].token; };
    stage<E, D>(ctx, args.q, base, tiles + Tiles::kQ, kQueries, query_token);
    stage<E, D>(ctx, args.grad_out, base, tiles + Tiles::kGradOut, kQueries, query_token);
    ctx.sync();

    // S^T = K.Q^T and dP^T = V.dO^T, blocks of 8 queries.
    float s[kQueries / 8][4], dp[kQueries / 8][4];
    paired_score_products<E, D, kQueries>(ctx, s, dp, tiles + Tiles::kK, tiles + Tiles::kQ,
                                          tiles + Tiles::kV, tiles + Tiles::kGradOut, warp * 16,
                                          queries - first_query, lane);

    // P^T and dS^T = P^T * (dP^T - delta), 0 where the key is outside the query's window.
    VITRINE_UNROLL
    for (int n = 0; n < kQueries / 8; ++n)
      for (int i = 0; i < 4; ++i) {
        const int h = i / 2;
        const GradQuerySlot& slot = slots[n * 8 + 2 * tq + i % 2];
        bool in = key_valid[h];
        VITRINE_UNROLL
        for (int a = 0; a < 3; ++a)
          in = in && key_at[h][a] >= slot.first[a] && key_at[h][a] < slot.first[a] + slot.count[a];
        float p = 0, ds = 0;
        if (in) {
          float logit = s[n][i] * args.scale;
          if (args.rpb != nullptr)
            logit += static_cast<float>(args.rpb[bias_base + relative_cell(g, slot.at, key_at[h])]);
          p = ctx.exp(logit - slot.lse);
          ds = p * (dp[n][i] - slot.delta);
        }
        s[n][i] = p;
        dp[n][i] = ds;
      }

    // dV += P^T.dO and dK += dS^T.Q, 16 queries per step.
    accumulate_product<E, D, kQueries>(ctx, dv, s, tiles + Tiles::kGradOut, queries - first_query,
                                       lane);
    accumulate_product<E, D, kQueries>(ctx, dk, dp, tiles + Tiles::kQ, queries - first_query, lane);
  }

  VITRINE_UNROLL
  for (int h = 0; h < 2; ++h) {
    if (!key_valid[h]) continue;
    const int64_t token = base + token_of(g, plan, key_at[h]);
    VITRINE_UNROLL
    for (int n = 0; n < kDimBlocks; ++n)
      for (int i = 2 * h; i < 2 * h + 2; ++i) {
        const int64_t at = token * D + n * 8 + 2 * tq + i % 2;
        args.grad_k[at] = static_cast<E>(dk[n][i] * args.scale);
        args.grad_v[at] = static_cast<E>(dv[n][i]);
      }
  }
}

}  // namespace vitrine::cuda::fna
