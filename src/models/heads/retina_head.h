// RetinaNet's head as mmdetection builds it (RetinaHead): shared over pyramid levels, a class
// branch and a box branch of `stacked_convs` 3x3 convs (ReLU) each, then retina_cls (A x C
// logits per cell, bias initialised to -log((1 - 0.01) / 0.01)) and retina_reg (A x 4 deltas);
// names cls_convs.i.conv, reg_convs.i.conv, retina_cls, retina_reg so mmdet checkpoints load.
// Convs are initialised normal(0, 0.01), zero bias (mmdet's init_cfg).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>

#include <vector>

namespace vitrine::models {

struct RetinaHeadOptions {
  int64_t num_classes = 80;
  int64_t in_channels = 256;
  int64_t feat_channels = 256;
  int64_t stacked_convs = 4;
  int64_t anchors_per_cell = 9;
  double prior_prob = 0.01;
};

struct RetinaOutputs {
  std::vector<at::Tensor> cls;  // per level [B, A C, H, W]
  std::vector<at::Tensor> reg;  // per level [B, A 4, H, W]
};

class RetinaHeadImpl : public torch::nn::Module {
 public:
  explicit RetinaHeadImpl(RetinaHeadOptions options);
  RetinaOutputs forward(const std::vector<at::Tensor>& levels);
  const RetinaHeadOptions& options() const { return options_; }

  std::vector<torch::nn::Conv2d> cls_convs, reg_convs;
  torch::nn::Conv2d retina_cls{nullptr}, retina_reg{nullptr};

 private:
  RetinaHeadOptions options_;
};
TORCH_MODULE(RetinaHead);

}  // namespace vitrine::models
