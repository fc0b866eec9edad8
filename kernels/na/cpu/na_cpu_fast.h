// Tiled float32 CPU kernels for neighborhood attention, free of torch headers so one source
// (na_cpu_fast_kernels.cpp) is compiled once per instruction set (baseline x86-64, AVX2+FMA,
// AVX-512) and the best is picked at run time. Work unit: a tile of up to kTile consecutive
// queries of one dilation group along the last axis; q·k is vectorised across the tile's
// queries (keys pre-transposed), so no horizontal reductions are needed.
#pragma once

#include <cstdint>
#include <vector>

namespace vitrine::attention::na::fast {

// The widest tile of any build (the AVX-512 one); each build's own width is
// Kernels::tile_width, one native vector register of floats.
constexpr int kTile = 16;

// Inside one dilation group, window starts (group coordinates) never decrease and grow by at
// most one per query, so the group splits into runs whose starts step by one (interior
// queries: kContiguous) or stay put (queries clamped at a border, the first queries of a
// causal axis, every query when the group is as short as the kernel: kConstant).
enum class TileKind : int32_t { kContiguous, kConstant };
struct Segment {
  int64_t group, first, count;  // dilation group, first group coordinate, queries
  TileKind kind;
};
// A tile packs up to kMaxSegments runs (possibly of different groups) into its lanes, in
// order: one vector load or broadcast per run, blended by lane.
constexpr int kMaxSegments = 4;
struct Tile {
  int32_t segments = 0;
  int64_t count = 0;  // queries (lanes used)
  Segment segment[kMaxSegments];
};

// Splits axis 2 (length, kernel, dilation, causal) into tiles of at most `width` queries.
std::vector<Tile> make_tiles(int64_t length, int64_t kernel, int64_t dilation, bool causal,
                             int width);

// Where the row of token `token` of (batch, head) = (bh / heads, bh % heads) starts in q, k,
// v, out or a gradient: batch * (bh / heads) + head * (bh % heads) + token * token_stride
// elements from the tensor's start (tokens in L0, L1, L2 order; a row's elements are
// contiguous). Head-major tensors [B, heads, tokens, X] have {heads*tokens*X, tokens*X, X};
// the slices of a qkv projection as it leaves its linear layer, [B, tokens, 3, heads, X], have
// {tokens*3*heads*X, X, 3*heads*X}, so the kernels read them without a copy.
struct RowLayout {
  int64_t batch = 0, head = 0, token = 0;
  bool operator==(const RowLayout& o) const {
    return batch == o.batch && head == o.head && token == o.token;
  }
};
inline int64_t row_start(const RowLayout& layout, int64_t heads, int64_t bh, int64_t token) {
  return bh / heads * layout.batch + bh % heads * layout.head + token * layout.token;
}

// Problem geometry and axis-2 tiling shared by the tiled kernels.
struct TiledShape {
  int64_t batch_heads = 0, heads = 0;
  int64_t L[3], K[3], d[3];
  bool causal[3];
  int64_t dim = 0, value_dim = 0;
  // Rows of q, k and the query gradient (q_rows), of v (v_rows), of out and its gradient
  // (out_rows). Attention weights, lse and delta are always [BH, tokens(, slots)].
  RowLayout q_rows, v_rows, out_rows;
  // Axis-2 tiles (make_tiles); group_offset[g] is where group g starts in L2' order.
  const struct Tile* tile = nullptr;
  int64_t tiles = 0;
  const int64_t* group_offset = nullptr;
};

// Shapes in the comments below are the head-major layouts; the *_rows layouts say where rows are.
struct FusedForwardArgs : TiledShape {
  const float* q = nullptr;    // [BH, L0, L1, L2, D]
  const float* kt = nullptr;   // keys transposed: [BH, L0, L1, D, L2'] with L2' in
                               // dilation-group-major order, with kTile zeros before and
                               // after (lane-shifted loads may touch them)
  const float* v = nullptr;    // [BH, L0, L1, L2, Dv]
  const float* rpb = nullptr;  // [heads, E0, E1, E2] or null
  float scale = 1;
  float* out = nullptr;  // [BH, L0, L1, L2, Dv]
  float* lse = nullptr;  // [BH, L0, L1, L2]
};

// The unfused pair: attn = q·k (+ rpb) with -inf in slots a causal window does not reach,
// and out = sum over the window of attn * v.
struct QkForwardArgs : TiledShape {
  const float* q = nullptr;    // [BH, L0, L1, L2, D] (already scaled by the caller)
  const float* kt = nullptr;   // keys transposed, as in FusedForwardArgs
  const float* rpb = nullptr;  // [heads, E0, E1, E2] or null
  float* attn = nullptr;       // [BH, L0, L1, L2, prod(K)]
};
struct AvForwardArgs : TiledShape {
  const float* attn = nullptr;  // [BH, L0, L1, L2, prod(K)]
  const float* v = nullptr;     // [BH, L0, L1, L2, Dv]
  float* out = nullptr;         // [BH, L0, L1, L2, Dv]
};

// Gradients of the fused op for float32 tiles. Per query: s = q·k*scale + rpb recomputed,
// p = exp(s - lse), dp = dout·v, ds = p*(dp - delta); dq is accumulated in registers, dk/dv
// and the bias gradient are scattered into per-thread partial buffers (summed by the
// caller), so no two threads write the same memory.
struct FusedBackwardArgs : TiledShape {
  const float* q = nullptr;      // [BH, L0, L1, L2, D]
  const float* k = nullptr;      // [BH, L0, L1, L2, D]
  const float* kt = nullptr;     // keys transposed, as in FusedForwardArgs
  const float* vt = nullptr;     // values transposed likewise ([.., Dv, L2'] + zero tail)
  const float* dout = nullptr;   // [BH, L0, L1, L2, Dv]
  const float* lse = nullptr;    // [BH, L0, L1, L2]
  const float* delta = nullptr;  // dout·out per query, [BH, L0, L1, L2]
  const float* rpb = nullptr;    // [heads, E0, E1, E2] or null
  float scale = 1;
  float* dq = nullptr;            // [BH, L0, L1, L2, D], written
  float* dk_partial = nullptr;    // [threads][BH * tokens * D], accumulated
  float* dv_partial = nullptr;    // [threads][BH * tokens * Dv], accumulated
  float* drpb_partial = nullptr;  // [threads][heads * E0 * E1 * E2] or null
  int64_t partial_stride_k = 0, partial_stride_v = 0, partial_stride_rpb = 0;
};

struct TransposeArgs {
  int64_t rows = 0;  // BH * L0 * L1
  int64_t L2 = 0, d2 = 1, dim = 0;
  int64_t heads = 1, rows_per_head = 1;  // L0 * L1
  RowLayout layout;                      // of k's rows
  const float* k = nullptr;              // [rows, L2, D]
  float* kt = nullptr;                   // [rows, D, L2'] group-major
  const int64_t* group_offset = nullptr;
};

using FusedForwardRange = void (*)(const FusedForwardArgs&, int64_t begin, int64_t end);
using QkForwardRange = void (*)(const QkForwardArgs&, int64_t begin, int64_t end);
using AvForwardRange = void (*)(const AvForwardArgs&, int64_t begin, int64_t end);
// `thread` picks the partial buffers this call accumulates into.
using FusedBackwardRange = void (*)(const FusedBackwardArgs&, int64_t begin, int64_t end,
                                    int thread);
using TransposeRange = void (*)(const TransposeArgs&, int64_t begin, int64_t end);

struct Kernels {
  const char* isa;
  int tile_width;
  FusedForwardRange fused_forward;
  FusedBackwardRange fused_backward;
  QkForwardRange qk_forward;
  AvForwardRange av_forward;
  TransposeRange transpose_keys;
};

// The widest instruction set this CPU supports; VITRINE_CPU_ISA=baseline|avx2|avx512 narrows
// it (tests use this to cover every build).
const Kernels& kernels();
// A specific build, or nullptr when the CPU cannot run it.
const Kernels* kernels_for(const char* isa);
// Makes kernels() return that build from now on (tests); false when the CPU cannot run it.
bool select_isa(const char* isa);

}  // namespace vitrine::attention::na::fast
