#include "layers/conv_ffn.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/nn/modules/activation.h>

#include "layers/depthwise_conv.h"
#include "layers/gelu.h"

namespace vitrine::layers {

ConvFFNImpl::ConvFFNImpl(int64_t in_features, int64_t hidden_features, int64_t kernel_size)
    : hidden_(hidden_features), kernel_(kernel_size) {
  fc1 = register_module("fc1", torch::nn::Linear(in_features, hidden_features));
  // The official dwconv wrapper holds Sequential(conv, GELU) as `depthwise_conv`.
  auto dwconv = register_module("dwconv", std::make_shared<torch::nn::Module>());
  depthwise =
      torch::nn::Conv2d(torch::nn::Conv2dOptions(hidden_features, hidden_features, kernel_size)
                            .padding((kernel_size - 1) / 2)
                            .groups(hidden_features));
  dwconv->register_module("depthwise_conv", torch::nn::Sequential(depthwise, torch::nn::GELU()));
  fc2 = register_module("fc2", torch::nn::Linear(hidden_features, in_features));
}

at::Tensor ConvFFNImpl::forward(const at::Tensor& x, int64_t h, int64_t w) {
  TORCH_CHECK(x.dim() == 3 && x.size(1) == h * w, "ConvFFN: expected [B, ", h * w,
              ", C] tokens of a ", h, "x", w, " map, got shape ", x.sizes());
  const at::Tensor hidden = layers::gelu(fc1->forward(x));
  // The conv runs on the channels-last map as it is (layers::depthwise_conv2d_nhwc).
  const at::Tensor map = hidden.view({x.size(0), h, w, hidden_});
  const at::Tensor local =
      layers::gelu(depthwise_conv2d_nhwc(map, depthwise->weight, depthwise->bias))
          .view({x.size(0), h * w, hidden_});
  return fc2->forward(hidden + local);
}

double ConvFFNImpl::macs(double tokens) const {
  const double in = static_cast<double>(fc1->options.in_features());
  return tokens * (2 * in * hidden_ + hidden_ * kernel_ * kernel_);
}

}  // namespace vitrine::layers
