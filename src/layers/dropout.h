// Dropout as torch.nn.Dropout (zero with probability p, scale survivors by 1/(1-p), identity
// in eval), drawing from the layer generator (layer_random.h) so that split-batch training is
// deterministic. No parameters, so checkpoints are unaffected.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace vitrine::layers {

class DropoutImpl : public torch::nn::Module {
 public:
  explicit DropoutImpl(double p = 0.0);
  at::Tensor forward(const at::Tensor& x);
  double p() const { return p_; }

 private:
  double p_;
};
TORCH_MODULE(Dropout);

}  // namespace vitrine::layers
