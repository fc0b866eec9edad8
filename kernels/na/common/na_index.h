// Index arithmetic of neighborhood attention, shared by the CPU kernels and the CUDA
// kernels (hence __host__ __device__ and no torch). One axis at a time; a multi-axis
// neighbourhood is the Cartesian product of its axes (../shared/specs/neighborhood-attention.md).
//
// Terms, for an axis of length L with kernel size K (odd), dilation d and a causal flag:
// * dilation group of position i: g = i % d; inside the group the coordinate is i / d and
//   the group has ceil((L - g) / d) positions;
// * the window of query i is the keys start + k*d for k < count; non-causal windows are
//   shifted inward at the borders so count == K always; causal windows end at the query;
// * the inverse window of key j is the queries whose window holds j (what dK/dV gather).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define VITRINE_HD __host__ __device__ __forceinline__
#else
#define VITRINE_HD inline
#endif

namespace vitrine::attention::na {

// A run of positions first, first + step, ... (count of them); step is the dilation.
struct Span {
  int64_t first;
  int64_t count;
};

VITRINE_HD int64_t group_length(int64_t length, int64_t dilation, int64_t group) {
  return (length - group + dilation - 1) / dilation;
}

// Keys attended by query `i`.
VITRINE_HD Span window(int64_t i, int64_t length, int64_t kernel, int64_t dilation, bool causal) {
  const int64_t group = i % dilation;
  const int64_t ig = i / dilation;
  int64_t start;
  int64_t count;
  if (causal) {
    start = ig - kernel + 1;
    if (start < 0) start = 0;
    count = ig - start + 1;
  } else {
    const int64_t glen = group_length(length, dilation, group);
    start = ig - kernel / 2;
    if (start > glen - kernel) start = glen - kernel;
    if (start < 0) start = 0;
    count = kernel;
  }
  return {start * dilation + group, count};
}

// Queries whose window contains key `j` (a contiguous run inside j's dilation group,
// because window starts never decrease along the axis).
VITRINE_HD Span inverse_window(int64_t j, int64_t length, int64_t kernel, int64_t dilation,
                               bool causal) {
  const int64_t group = j % dilation;
  const int64_t jg = j / dilation;
  const int64_t glen = group_length(length, dilation, group);
  int64_t first;
  int64_t last;
  if (causal) {
    first = jg;
    last = jg + kernel - 1;
  } else {
    const int64_t half = kernel / 2;
    // Windows start at clamp(i - half, 0, glen - kernel): the first query whose window
    // starts late enough to still include j, and the last whose window starts at or before j.
    first = jg - kernel + 1 <= 0 ? 0 : jg - kernel + 1 + half;
    last = jg >= glen - kernel ? glen - 1 : jg + half;
  }
  if (last > glen - 1) last = glen - 1;
  return {first * dilation + group, last - first + 1};
}

// Slot of key `j` inside the window of query `i` that starts at `window_first`.
VITRINE_HD int64_t slot(int64_t j, int64_t window_first, int64_t dilation) {
  return (j - window_first) / dilation;
}

// Relative-position-bias index on one axis: (K - 1) + (j - i) / d. Exact division: i and j
// share a dilation group.
VITRINE_HD int64_t bias_index(int64_t i, int64_t j, int64_t kernel, int64_t dilation) {
  return kernel - 1 + (j - i) / dilation;
}

}  // namespace vitrine::attention::na
