// mmsegmentation's decode heads, with its module names so its checkpoints load by name
// (ConvModule = conv without bias + BN + ReLU, named `conv` / `bn`):
//   UPerHead (Xiao et al. 2018): PPM on the last level (psp_modules.i = adaptive average pool
//   to 1/2/3/6 + 1x1 ConvModule, outputs resized bilinearly, concatenated with the input,
//   `bottleneck` 3x3), lateral 1x1 ConvModules on the other levels, top-down bilinear sums,
//   3x3 `fpn_convs`, every level resized to the finest and concatenated, `fpn_bottleneck`
//   3x3, then Dropout2d(0.1) and `conv_seg` (1x1 to the classes). Resizes use
//   align_corners=False.
//   FCNHead (the auxiliary head): num_convs 3x3 ConvModules (`convs.i`), optional input
//   concatenation (`conv_cat`), Dropout2d(0.1), `conv_seg`.
// Init as mmseg: ConvModules kaiming-normal (fan_out, ReLU), BN (1, 0), conv_seg normal(0.01).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>

#include <vector>

#include "layers/conv_norm_act.h"
#include "models/necks/a3fpn.h"

namespace vitrine::models {

struct UPerHeadOptions {
  std::vector<int64_t> in_channels{256, 512, 1024, 2048};
  int64_t channels = 512;
  std::vector<int64_t> pool_scales{1, 2, 3, 6};
  int64_t num_classes = 150;
  double dropout = 0.1;
  // A3-FPN's UPerNet head (mmseg's A3FPNUperNetHead): instead of the lateral and fpn convs,
  // the A3-FPN neck `a3fpn` (bottom-up form, in_channels [C2, C3, C4, channels], out
  // channels) runs on the three finer levels and the PPM output; its four outputs go to
  // fpn_bottleneck. The official config's neck settings are A3FPNOptions' defaults with
  // squeeze [1, 2, 4, 1].
  bool a3fpn = false;
};

class UPerHeadImpl : public torch::nn::Module {
 public:
  explicit UPerHeadImpl(UPerHeadOptions options);
  // Four levels, finest first -> logits at the finest level's size.
  at::Tensor forward(const std::vector<at::Tensor>& levels);
  const UPerHeadOptions& options() const { return options_; }

 private:
  UPerHeadOptions options_;
  std::vector<layers::ConvNormAct> psp_convs_, lateral_convs_, fpn_convs_;
  layers::ConvNormAct bottleneck_{nullptr}, fpn_bottleneck_{nullptr};
  torch::nn::Conv2d conv_seg_{nullptr};
  A3FPN a3fpn_{nullptr};
};
TORCH_MODULE(UPerHead);

struct FCNHeadOptions {
  int64_t in_channels = 1024;
  int64_t channels = 256;
  int64_t num_convs = 1;
  bool concat_input = false;
  int64_t num_classes = 150;
  double dropout = 0.1;
};

class FCNHeadImpl : public torch::nn::Module {
 public:
  explicit FCNHeadImpl(FCNHeadOptions options);
  at::Tensor forward(const at::Tensor& x);

 private:
  FCNHeadOptions options_;
  std::vector<layers::ConvNormAct> convs_;
  layers::ConvNormAct conv_cat_{nullptr};
  torch::nn::Conv2d conv_seg_{nullptr};
};
TORCH_MODULE(FCNHead);

// mmseg's resize(..., mode='bilinear', align_corners=False) to (height, width).
at::Tensor resize_bilinear(const at::Tensor& x, int64_t height, int64_t width);

}  // namespace vitrine::models
