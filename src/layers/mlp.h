// The transformer MLP of timm/NAT: fc1 -> GELU -> dropout -> fc2 -> dropout, on channels-last
// tokens. Parameter names fc1/fc2 follow the official code.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include "layers/dropout.h"

namespace vitrine::layers {

class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(int64_t in_features, int64_t hidden_features, int64_t out_features, double drop = 0.0);
  at::Tensor forward(const at::Tensor& x);

  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  Dropout drop{nullptr};
};
TORCH_MODULE(Mlp);

}  // namespace vitrine::layers
