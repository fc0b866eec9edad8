// ResNet (He et al. 2016) as torchvision builds it (v1.5: stride on the 3x3 conv of the
// bottleneck), with torchvision's parameter names (conv1, bn1, layer1.0.conv1,
// layer1.0.downsample.0, fc) so torchvision/timm checkpoints load by name. The backbone that
// DuoFormer and the detection/segmentation necks take features from: `forward_features`
// returns the outputs of layer1..layer4 (strides 4, 8, 16, 32).
#pragma once

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <memory>
#include <vector>

#include "layers/batch_norm.h"
#include "models/registry.h"

namespace vitrine::models {

struct ResNetConfig {
  bool bottleneck = true;                   // Bottleneck (expansion 4) or BasicBlock
  std::vector<int64_t> layers{3, 4, 6, 3};  // blocks per stage
  int64_t in_chans = 3;
  int64_t num_classes = 1000;
  bool zero_init_residual = false;  // torchvision's option: last BN of each block at 0
  // Stem and first-stage width (stage s has base_width * 2^s): 64 is torchvision's; smaller
  // values give the narrow ResNets the detection/segmentation fixtures train from scratch.
  int64_t base_width = 64;
};

class ResNetBlock;

class ResNet : public Model {
 public:
  explicit ResNet(ResNetConfig config);

  at::Tensor forward(const at::Tensor& images) override;
  std::vector<at::Tensor> forward_features(const at::Tensor& images) override;
  at::Tensor forward_head(const at::Tensor& last_level) override;
  std::vector<int64_t> feature_channels() const override;
  double flops(int64_t img_size) const override;

 private:
  ResNetConfig config_;
  torch::nn::Conv2d conv1_{nullptr};
  layers::BatchNorm2d bn1_{nullptr};
  std::vector<std::vector<std::shared_ptr<ResNetBlock>>> stages_;
  torch::nn::Linear fc_{nullptr};
};

// resnet18/34/50/101/152; defined in resnet.cpp.
void register_resnet_family(ModelRegistry& registry);

}  // namespace vitrine::models
