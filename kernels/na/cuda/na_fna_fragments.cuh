// Shared-memory staging and mma.m16n8k16 fragment loads of the tensor-core kernels
// (na_fna_forward.cuh, na_fna_backward.cuh). Tiles live in shared memory as rows of `stride`
// 16-bit elements; the fragment layouts are the PTX ISA's ("Matrix Fragments for
// mma.m16n8k16 with floating point type"; g = lane / 4, t = lane % 4):
//   A element i (2 per register, low half first): row g + 8*((i/2)%2), column 2t + i%2 + 8*(i/4)
//   B element i: row (k) 2t + i%2 + 8*(i/2), column (n) g
//   C element i: row g + 8*(i/2), column 2t + i%2
// tests/kernels/host_cta.h emulates the instruction from these definitions, written out there
// independently, so the CPU tests check these loads too.
#pragma once

#include <cstdint>

#include "na/cuda/na_fna_plan.h"

// Fully unrolls the loop it precedes, so that arrays indexed by its counter stay in registers
// (a loop nvcc leaves rolled puts them in local memory). Only the device compilation sees
// it: host compilers warn on the pragma.
#if defined(__CUDA_ARCH__)
#define VITRINE_UNROLL _Pragma("unroll")
#else
#define VITRINE_UNROLL
#endif

namespace vitrine::cuda::fna {

constexpr float kNegInf = -__builtin_huge_valf();

// Rows of D elements padded by 8, so that the eight row groups of a fragment load fall in
// different banks and every row stays 16-byte aligned.
template <int D>
constexpr int kRowStride = D + 8;

template <typename E>
VITRINE_HD uint32_t pack(E lo, E hi) {
  static_assert(sizeof(E) == 2, "tensor-core fragments hold 16-bit elements");
  uint16_t a, b;
  __builtin_memcpy(&a, static_cast<const void*>(&lo), 2);
  __builtin_memcpy(&b, static_cast<const void*>(&hi), 2);
  return static_cast<uint32_t>(a) | (static_cast<uint32_t>(b) << 16);
}

// Copies 8 consecutive elements (16 bytes on both sides: rows are 16-byte aligned).
template <typename E>
VITRINE_HD void copy8(E* dst, const E* src) {
#if defined(__CUDA_ARCH__)
  *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
#else
  VITRINE_UNROLL
  for (int i = 0; i < 8; ++i) dst[i] = src[i];
#endif
}

template <typename E>
VITRINE_HD void zero8(E* dst) {
#if defined(__CUDA_ARCH__)
  *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
#else
  VITRINE_UNROLL
  for (int i = 0; i < 8; ++i) dst[i] = static_cast<E>(0.0f);
#endif
}

// Stages `rows` rows of one (batch, head) into shared rows of kRowStride<D>; row r comes from
// token token_of_row(r), or is zero where that returns -1.
template <typename E, int D, class Ctx, class TokenOf>
VITRINE_HD void stage(Ctx& ctx, const E* src, int64_t bh_base, E* dst, int rows,
                      const TokenOf& token_of_row) {
  constexpr int kVectors = D / 8;
  for (int e = ctx.thread(); e < rows * kVectors; e += kThreads) {
    const int r = e / kVectors, c = (e % kVectors) * 8;
    const int64_t token = token_of_row(r);
    E* to = dst + r * kRowStride<D> + c;
    if (token >= 0)
      copy8(to, src + (bh_base + token) * D + c);
    else
      zero8(to);
  }
}

// A(16x16) with A(r, c) = tile[(row0 + r) * stride + col0 + c].
template <typename E>
VITRINE_HD void load_a(uint32_t a[4], const E* tile, int stride, int row0, int col0, int lane) {
  const int gr = lane / 4, tq = lane % 4;
  VITRINE_UNROLL
  for (int reg = 0; reg < 4; ++reg) {
    const E* at = tile + (row0 + gr + 8 * (reg % 2)) * stride + col0 + 2 * tq + 8 * (reg / 2);
    a[reg] = pack(at[0], at[1]);
  }
}

// B(16x8) with B(k, n) = tile[(n0 + n) * stride + k0 + k]: the tile's rows are B's columns
// (K in Q.K^T).
template <typename E>
VITRINE_HD void load_b_from_rows(uint32_t b[2], const E* tile, int stride, int n0, int k0,
                                 int lane) {
  const int gr = lane / 4, tq = lane % 4;
  VITRINE_UNROLL
  for (int reg = 0; reg < 2; ++reg) {
    const E* at = tile + (n0 + gr) * stride + k0 + 2 * tq + 8 * reg;
    b[reg] = pack(at[0], at[1]);
  }
}

// B(16x8) with B(k, n) = tile[(k0 + k) * stride + n0 + n]: the tile's rows are B's rows
// (V in P.V).
template <typename E>
VITRINE_HD void load_b_from_columns(uint32_t b[2], const E* tile, int stride, int k0, int n0,
                                    int lane) {
  const int gr = lane / 4, tq = lane % 4;
  VITRINE_UNROLL
  for (int reg = 0; reg < 2; ++reg) {
    const E* at = tile + (k0 + 2 * tq + 8 * reg) * stride + n0 + gr;
    b[reg] = pack(at[0], at[stride]);
  }
}

// The A fragment of one 16-wide k-step from the C accumulators of two adjacent 8-column
// blocks (the C layout of columns 0-7 and 8-15 is the A layout of columns 0-15), rounded to
// the storage type as the tensor cores take it.
template <typename E>
VITRINE_HD void a_from_accumulators(uint32_t a[4], const float left[4], const float right[4]) {
  VITRINE_UNROLL
  for (int reg = 0; reg < 4; ++reg) {
    const float* c = (reg / 2 == 0 ? left : right) + 2 * (reg % 2);
    a[reg] = pack(static_cast<E>(c[0]), static_cast<E>(c[1]));
  }
}

// The backward's two score products of one chunk, side by side: s = A1.B1^T and dp = A2.B2^T
// in blocks of 8 columns, A's 16 rows the warp's (from `row0`) of tiles a1 and a2, B's columns
// the rows of tiles b1 and b2 (all rows of D elements). Column blocks from `valid` on are past
// the box: skipped (uniform over the CTA), their accumulators left at zero.
template <typename E, int D, int Columns, class Ctx>
VITRINE_HD void paired_score_products(Ctx& ctx, float s[][4], float dp[][4], const E* a1,
                                      const E* b1, const E* a2, const E* b2, int row0,
                                      int64_t valid, int lane) {
  VITRINE_UNROLL
  for (int n = 0; n < Columns / 8; ++n)
    for (int i = 0; i < 4; ++i) s[n][i] = dp[n][i] = 0;
  VITRINE_UNROLL
  for (int st = 0; st < D / 16; ++st) {
    uint32_t x1[4], x2[4];
    load_a(x1, a1, kRowStride<D>, row0, st * 16, lane);
    load_a(x2, a2, kRowStride<D>, row0, st * 16, lane);
    VITRINE_UNROLL
    for (int n = 0; n < Columns / 8; ++n) {
      if (n * 8 >= valid) continue;
      uint32_t b[2];
      load_b_from_rows(b, b1, kRowStride<D>, n * 8, st * 16, lane);
      ctx.template mma<E>(s[n], x1, b);
      load_b_from_rows(b, b2, kRowStride<D>, n * 8, st * 16, lane);
      ctx.template mma<E>(dp[n], x2, b);
    }
  }
}

// acc += A.tile, 16 rows of `tile` per step: A's 16 columns of each step from two adjacent
// 8-column accumulator blocks of `left` (P, dS or their transposes), acc in D / 8 blocks of 8.
// Steps from `valid` rows of the tile on are past the box: skipped (uniform over the CTA).
template <typename E, int D, int Columns, class Ctx>
VITRINE_HD void accumulate_product(Ctx& ctx, float acc[][4], const float left[][4], const E* tile,
                                   int64_t valid, int lane) {
  VITRINE_UNROLL
  for (int ks = 0; ks < Columns / 16; ++ks) {
    if (ks * 16 >= valid) continue;
    uint32_t a[4];
    a_from_accumulators<E>(a, left[2 * ks], left[2 * ks + 1]);
    VITRINE_UNROLL
    for (int n = 0; n < D / 8; ++n) {
      uint32_t b[2];
      load_b_from_columns(b, tile, kRowStride<D>, ks * 16, n * 8, lane);
      ctx.template mma<E>(acc[n], a, b);
    }
  }
}

}  // namespace vitrine::cuda::fna
