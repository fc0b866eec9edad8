// The convolutional feed-forward of CATANet (and SAFMN-style SR transformers): fc1 -> GELU ->
// h + GELU(depthwise k x k conv of h as a map) -> fc2, on channels-last tokens of an h x w map.
// Names follow the official code: fc1, fc2, dwconv.depthwise_conv.0 (the conv; .1 is the GELU).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

namespace vitrine::layers {

class ConvFFNImpl : public torch::nn::Module {
 public:
  ConvFFNImpl(int64_t in_features, int64_t hidden_features, int64_t kernel_size = 5);
  // x [B, h * w, in] (row-major tokens) -> [B, h * w, in].
  at::Tensor forward(const at::Tensor& x, int64_t h, int64_t w);
  // Multiply-adds for `tokens` tokens.
  double macs(double tokens) const;

  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::Conv2d depthwise{nullptr};  // dwconv.depthwise_conv.0

 private:
  int64_t hidden_, kernel_;
};
TORCH_MODULE(ConvFFN);

}  // namespace vitrine::layers
