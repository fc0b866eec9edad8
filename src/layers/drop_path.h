// Stochastic depth (Huang et al. 2016) as timm's DropPath: in training, each sample's
// residual branch is zeroed with probability p and survivors are scaled by 1/(1-p); in eval
// it is the identity.
#pragma once

#include <torch/nn/module.h>

#include <vector>

namespace vitrine::layers {

class DropPathImpl : public torch::nn::Module {
 public:
  explicit DropPathImpl(double drop_prob = 0.0);
  at::Tensor forward(const at::Tensor& x);
  double drop_prob() const { return drop_prob_; }

 private:
  double drop_prob_;
};
TORCH_MODULE(DropPath);

// The stochastic-depth schedule of timm and the official models: rates rising linearly from 0
// to `max_rate` over `count` blocks, as float32 torch.linspace gives them.
std::vector<double> drop_path_rates(double max_rate, int64_t count);

}  // namespace vitrine::layers
