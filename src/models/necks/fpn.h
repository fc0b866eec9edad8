// Feature Pyramid Network as mmdetection builds it (mmdet/models/necks/fpn.py, no norm, no
// activation): lateral 1x1 convs on the used backbone levels, a top-down path adding each
// coarser lateral upsampled (nearest, to the finer level's exact size), 3x3 output convs, and
// extra levels either by max-pool (kernel 1, stride 2: Faster/Mask R-CNN) or by stride-2 3x3
// convs on the last input, lateral or output (RetinaNet's 'on_input'). Names follow mmdet's
// ConvModule (lateral_convs.i.conv.weight, fpn_convs.i.conv.bias) so its checkpoints load.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>

#include <string>
#include <vector>

namespace vitrine::models {

struct FPNOptions {
  std::vector<int64_t> in_channels;  // per backbone level, finest first
  int64_t out_channels = 256;
  int64_t num_outs = 5;
  int64_t start_level = 0;
  int64_t end_level = -1;       // inclusive; -1: the last level
  std::string add_extra_convs;  // "" (max-pool levels), "on_input", "on_lateral", "on_output"
  bool relu_before_extra_convs = false;
};

class FPNImpl : public torch::nn::Module {
 public:
  explicit FPNImpl(FPNOptions options);

  // One feature map per backbone level (finest first) -> num_outs maps of out_channels.
  std::vector<at::Tensor> forward(const std::vector<at::Tensor>& inputs);
  const FPNOptions& options() const { return options_; }

  std::vector<torch::nn::Conv2d> lateral_convs, fpn_convs;  // the `.conv` of each ConvModule

 private:
  FPNOptions options_;
  int64_t backbone_end_level_ = 0;
};
TORCH_MODULE(FPN);

}  // namespace vitrine::models
