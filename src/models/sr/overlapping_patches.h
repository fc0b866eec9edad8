// CATANet's overlapping square patches (the official patch_divide / patch_reverse): ps x ps
// patches at step ps - 2 (step ps when the map is exactly ps x ps), the last row and column of
// patches moved back to end at the border. Reassembly averages overlapping pixels by how many
// patches cover them — the official code halves each overlap band instead, which is the same
// wherever at most two patches overlap (every size except a few where the moved-back patch
// meets two others) and keeps a constant map constant everywhere.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace vitrine::models {

// The top (or left) offsets of the patches along a side of `size` (size >= ps).
std::vector<int64_t> patch_offsets(int64_t size, int64_t ps, int64_t step);

struct PatchGrid {
  std::vector<int64_t> tops, lefts;
  int64_t ps = 0;
};

// x [B, C, H, W] -> patches [B, n, C, ps, ps] (row-major over the grid) and the grid.
// H and W must be at least ps (a clear error otherwise).
at::Tensor divide_into_patches(const at::Tensor& x, int64_t ps, PatchGrid& grid);
// patches [B, n, C, ps, ps] -> [B, C, H, W], averaging overlaps.
at::Tensor merge_patches(const at::Tensor& patches, const PatchGrid& grid, int64_t height,
                         int64_t width);

}  // namespace vitrine::models
