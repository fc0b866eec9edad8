// The DCNv4-form deformable resampling A3-FPN's Fusion uses (`Resampler`: DCNv4 with
// extra_offset_mask, then channel LayerNorm and GELU), built on grid_sample so it runs anywhere.
// Parameters as the official DCNv4 module: offset_mask_dw (3x3 depthwise conv with bias on the
// context), offset_mask Linear(C, ceil(27 g / 8) * 8) zero-initialised, value_proj and
// output_proj Linear(C, C) (Xavier uniform, zero bias).
// Sampling (3x3, stride 1, pad 1, dilation 1): output pixel (y, x) of group k reads the value map
// at (x + (i + dx) s, y + (j + dy) s) for kernel offsets i, j in {-1, 0, 1} (x-major: points
// ordered i then j), learned offsets (dx, dy) and s = offset_scale, bilinear with zeros outside;
// the point weights are the raw masks (no softmax, as DCNv4). Per group the offset_mask row holds
// 9 (dx, dy) pairs then 9 masks. This layout, the point order and the sampling rule are the
// official DCNv4 CUDA kernel's (dcnv4_im2col_cuda.cuh; tests/a3fpn_test.cpp writes it out).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include "models/necks/a3fpn_blocks.h"

namespace vitrine::models {

class DCNv4ResamplerImpl : public torch::nn::Module {
 public:
  DCNv4ResamplerImpl(int64_t channels, int64_t groups, double offset_scale, bool output_bias);
  // context [B, C, H, W] drives offsets and masks; feature [B, C, H, W] is resampled.
  at::Tensor forward(const at::Tensor& context, const at::Tensor& feature);

  torch::nn::Conv2d offset_mask_dw{nullptr};
  torch::nn::Linear offset_mask{nullptr}, value_proj{nullptr}, output_proj{nullptr};
  ChannelLayerNorm norm{nullptr};

 private:
  int64_t channels_, groups_;
  double offset_scale_;
};
TORCH_MODULE(DCNv4Resampler);

}  // namespace vitrine::models
