#include "models/sr/overlapping_patches.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace vitrine::models {

std::vector<int64_t> patch_offsets(int64_t size, int64_t ps, int64_t step) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < size + step - ps; i += step) out.push_back(std::min(i, size - ps));
  return out;
}

at::Tensor divide_into_patches(const at::Tensor& x, int64_t ps, PatchGrid& grid) {
  const int64_t H = x.size(2), W = x.size(3);
  TORCH_CHECK(H >= ps && W >= ps, "CATANet: a ", H, "x", W, " feature map is smaller than its ", ps,
              "x", ps,
              " attention patches (the low-resolution input must be at least 28 pixels per side)");
  const int64_t step = H == ps && W == ps ? ps : ps - 2;
  grid.ps = ps;
  grid.tops = patch_offsets(H, ps, step);
  grid.lefts = patch_offsets(W, ps, step);
  std::vector<at::Tensor> patches;
  for (int64_t top : grid.tops)
    for (int64_t left : grid.lefts) patches.push_back(x.narrow(2, top, ps).narrow(3, left, ps));
  return at::stack(patches, 1);
}

at::Tensor merge_patches(const at::Tensor& patches, const PatchGrid& grid, int64_t height,
                         int64_t width) {
  const int64_t ps = grid.ps;
  at::Tensor out = at::zeros({patches.size(0), patches.size(2), height, width}, patches.options());
  at::Tensor count = at::zeros({1, 1, height, width}, patches.options());
  int64_t index = 0;
  for (int64_t top : grid.tops)
    for (int64_t left : grid.lefts) {
      out.narrow(2, top, ps).narrow(3, left, ps).add_(patches.select(1, index++));
      count.narrow(2, top, ps).narrow(3, left, ps).add_(1);
    }
  return out / count;
}

}  // namespace vitrine::models
