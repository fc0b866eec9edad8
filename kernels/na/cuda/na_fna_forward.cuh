// The tensor-core fused forward of neighborhood attention (plan: na_fna_plan.h), written
// against an execution context so that one source serves the GPU (na_fna.cu: __syncthreads,
// warp shuffles, mma.sync.m16n8k16) and the CPU tests (tests/kernels/host_cta.h runs every
// thread of a CTA as a fiber and emulates the warp collectives from the PTX fragment layouts).
//
// A Ctx provides: thread() (0..kThreads-1), sync() (the CTA barrier), quad_max/quad_sum (over
// the 4 lanes that share an accumulator row), exp(), log(), atomic_add(float*, float) (shared
// or global memory), and mma<E>(c, a, b): c[4] += A(16x16) B(16x8) with A and B as
// float16/bfloat16 pairs packed in 32-bit registers, in the fragment layouts that
// na_fna_fragments.cuh spells out and loads. Each warp owns 16 query rows. Per chunk of 64 keys: S
// = Q.K^T (8 column blocks of 8 keys), scale, bias, mask, online softmax in registers
// (FlashAttention-2: running max and per-lane partial sums, reduced over the quad once at the end),
// and O += P.V with P taken straight from the S accumulators (the C layout of two adjacent 8-key
// blocks is the A layout of one 16-key step). The log-sum-exp of each query's logits is stored for
// the backward.
#pragma once

#include <cstdint>

#include "na/cuda/na_fna_fragments.cuh"

namespace vitrine::cuda::fna {

// Inputs and outputs (flat layouts of na_geometry.h; value dim == head dim).
template <typename E>
struct ForwardArgs {
  const E* q = nullptr;
  const E* k = nullptr;
  const E* v = nullptr;
  const E* rpb = nullptr;  // [heads][E0][E1][E2] or null
  E* out = nullptr;
  float* lse = nullptr;
  float scale = 1;
};

// ForwardArgs from the untyped pointers of the na_kernels.h entry point.
template <typename E>
VITRINE_HD ForwardArgs<E> forward_args(const void* q, const void* k, const void* v, const void* rpb,
                                       float scale, void* out, float* lse) {
  ForwardArgs<E> a;
  a.q = static_cast<const E*>(q);
  a.k = static_cast<const E*>(k);
  a.v = static_cast<const E*>(v);
  a.rpb = static_cast<const E*>(rpb);
  a.out = static_cast<E*>(out);
  a.lse = lse;
  a.scale = scale;
  return a;
}

// A key of the current chunk: group coordinates and token (-1 past the box), computed once per
// chunk by one thread each, so that the per-element mask is compares, not divisions.
struct KeySlot {
  int at[3];
  int token;
};

// Shared memory: Q, K, V tiles of 64 rows each (rows of kRowStride<D>), then the chunk's
// KeySlots.
template <int D>
struct SharedTiles {
  static constexpr int kStride = kRowStride<D>;
  static constexpr int kQ = 0;
  static constexpr int kK = kTile * kStride;
  static constexpr int kV = kK + kChunk * kStride;
  static constexpr int kElements = kV + kChunk * kStride;
  template <typename E>
  static constexpr size_t bytes() {
    return kElements * sizeof(E) + kChunk * sizeof(KeySlot);
  }
};

// The whole CTA `cta` of the forward (every thread of the CTA calls this).
template <typename E, int D, class Ctx>
VITRINE_HD void forward_cta(Ctx& ctx, const Geometry& g, const ForwardArgs<E>& args,
                            const TileShape& shape, int64_t cta, E* smem) {
  static_assert(D % 16 == 0, "head dim must be a multiple of 16");
  using Tiles = SharedTiles<D>;
  constexpr int kSteps = D / 16;  // k-steps of Q.K^T
  constexpr int kDimBlocks = D / 8;
  const CtaPlan plan = plan_cta(g, shape, cta);
  if (plan.empty) return;  // uniform over the CTA
  const int tid = ctx.thread();
  const int warp = tid / 32, lane = tid % 32, gr = lane / 4, tq = lane % 4;
  const int64_t base = plan.bh * g.tokens();

  stage<E, D>(ctx, args.q, base, smem + Tiles::kQ, kTile, [=, &g](int r) -> int64_t {
    int64_t c[3];
    return tile_member(shape, plan, r, c) ? token_of(g, plan, c) : -1;
  });
  ctx.sync();

  // This warp's 16 query rows as A fragments, and the windows of the two rows this lane holds.
  uint32_t qa[kSteps][4];
  VITRINE_UNROLL
  for (int s = 0; s < kSteps; ++s)
    load_a(qa[s], smem + Tiles::kQ, Tiles::kStride, warp * 16, s * 16, lane);
  QueryWindow win[2];
  VITRINE_UNROLL
  for (int h = 0; h < 2; ++h) win[h] = query_window(g, shape, plan, warp * 16 + gr + 8 * h);
  const int64_t bias_base = (plan.bh % g.heads) * g.bias_size();  // this head's table

  float row_max[2] = {kNegInf, kNegInf};
  float row_sum[2] = {0, 0};  // this lane's columns only, until the end
  float o[kDimBlocks][4];
  VITRINE_UNROLL
  for (int n = 0; n < kDimBlocks; ++n)
    for (int i = 0; i < 4; ++i) o[n][i] = 0;

  KeySlot* slots = reinterpret_cast<KeySlot*>(smem + Tiles::kElements);
  const int64_t keys = plan.reach.volume();
  const int64_t chunks = plan.chunks();
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    const int64_t first_key = chunk * kChunk;
    ctx.sync();  // the previous chunk's K, V and slots are no longer read
    if (tid < kChunk) {
      int64_t c[3];
      const bool real = reach_member(plan, first_key + tid, c);
      KeySlot& slot = slots[tid];
      VITRINE_UNROLL
      for (int a = 0; a < 3; ++a) slot.at[a] = static_cast<int>(c[a]);
      slot.token = real ? static_cast<int>(token_of(g, plan, c)) : -1;
    }
    ctx.sync();
    auto key_token = [slots](int r) -> int64_t { return slots[r].token; };
    stage<E, D>(ctx, args.k, base, smem + Tiles::kK, kChunk, key_token);
    stage<E, D>(ctx, args.v, base, smem + Tiles::kV, kChunk, key_token);
    ctx.sync();

    // S = Q.K^T for 8 blocks of 8 keys; blocks wholly past the box are skipped (uniform).
    float s[kChunk / 8][4];
    VITRINE_UNROLL
    for (int n = 0; n < kChunk / 8; ++n) {
      VITRINE_UNROLL
      for (int i = 0; i < 4; ++i) s[n][i] = 0;
      if (first_key + n * 8 >= keys) continue;
      VITRINE_UNROLL
      for (int st = 0; st < kSteps; ++st) {
        uint32_t b[2];
        load_b_from_rows(b, smem + Tiles::kK, Tiles::kStride, n * 8, st * 16, lane);
        ctx.template mma<E>(s[n], qa[st], b);
      }
    }

    // Logits: scale, bias, mask; then the running max and the rescale of earlier chunks.
    float chunk_max[2] = {kNegInf, kNegInf};
    VITRINE_UNROLL
    for (int n = 0; n < kChunk / 8; ++n)
      for (int i = 0; i < 4; ++i) {
        const int h = i / 2;
        const KeySlot& slot = slots[n * 8 + 2 * tq + i % 2];
        const int64_t kc[3] = {slot.at[0], slot.at[1], slot.at[2]};
        float logit = kNegInf;
        if (slot.token >= 0 && attends(win[h], kc)) {
          logit = s[n][i] * args.scale;
          if (args.rpb != nullptr)
            logit += static_cast<float>(args.rpb[bias_base + bias_cell(g, win[h], kc)]);
        }
        s[n][i] = logit;
        chunk_max[h] = chunk_max[h] > logit ? chunk_max[h] : logit;
      }
    float alpha[2];
    VITRINE_UNROLL
    for (int h = 0; h < 2; ++h) {
      const float m = ctx.quad_max(chunk_max[h]);
      const float updated = row_max[h] > m ? row_max[h] : m;
      // A row with no key yet keeps max -inf: exponents relative to 0 keep every term 0.
      const float ref = updated == kNegInf ? 0.0f : updated;
      alpha[h] = ctx.exp(row_max[h] - ref);
      row_max[h] = updated;
      row_sum[h] *= alpha[h];
      VITRINE_UNROLL
      for (int n = 0; n < kChunk / 8; ++n)
        for (int i = 2 * h; i < 2 * h + 2; ++i) {
          s[n][i] = ctx.exp(s[n][i] - ref);
          row_sum[h] += s[n][i];
        }
    }
    VITRINE_UNROLL
    for (int n = 0; n < kDimBlocks; ++n)
      for (int i = 0; i < 4; ++i) o[n][i] *= alpha[i / 2];

    // O += P.V, 16 keys per step; P rounded to the storage type as the tensor cores take it.
    accumulate_product<E, D, kChunk>(ctx, o, s, smem + Tiles::kV, keys - first_key, lane);
  }

  // Normalise and store the rows this lane holds; lse = max + log(sum) of the logits.
  VITRINE_UNROLL
  for (int h = 0; h < 2; ++h) {
    const float total = ctx.quad_sum(row_sum[h]);
    if (!win[h].valid) continue;
    const int64_t token = base + token_of(g, plan, win[h].at);
    const float inv = 1.0f / total;
    VITRINE_UNROLL
    for (int n = 0; n < kDimBlocks; ++n)
      for (int i = 2 * h; i < 2 * h + 2; ++i)
        args.out[token * D + n * 8 + 2 * tq + i % 2] = static_cast<E>(o[n][i] * inv);
    if (tq == 0) args.lse[token] = row_max[h] + ctx.log(total);
  }
}

}  // namespace vitrine::cuda::fna
