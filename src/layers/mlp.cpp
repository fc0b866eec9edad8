#include "layers/mlp.h"

#include <ATen/ATen.h>

#include "layers/gelu.h"

namespace vitrine::layers {

MlpImpl::MlpImpl(int64_t in_features, int64_t hidden_features, int64_t out_features, double p) {
  fc1 = register_module("fc1", torch::nn::Linear(in_features, hidden_features));
  fc2 = register_module("fc2", torch::nn::Linear(hidden_features, out_features));
  drop = register_module("drop", Dropout(p));
}

at::Tensor MlpImpl::forward(const at::Tensor& x) {
  return drop(fc2(drop(layers::gelu(fc1(x)))));
}

}  // namespace vitrine::layers
