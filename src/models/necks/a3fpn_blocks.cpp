#include "models/necks/a3fpn_blocks.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/container/sequential.h>

#include "core/error.h"
#include "layers/gelu.h"

namespace vitrine::models {

A3ConvImpl::A3ConvImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding,
                       int64_t groups, bool act, bool bias, bool with_norm)
    : act_(act) {
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                                                       .stride(stride)
                                                       .padding(padding < 0 ? kernel / 2 : padding)
                                                       .groups(groups)
                                                       .bias(bias)));
  if (with_norm) norm = register_module("norm", layers::BatchNorm2d(out));
}

at::Tensor A3ConvImpl::forward(const at::Tensor& x) {
  at::Tensor y = conv->forward(x);
  if (norm) y = norm->forward(y);
  return act_ ? layers::gelu(y) : y;
}

RepVggBlockImpl::RepVggBlockImpl(int64_t c) {
  conv1 = register_module("conv1", A3Conv(c, c, 3, 1, 1, 1, /*act=*/false));
  conv2 = register_module("conv2", A3Conv(c, c, 1, 1, 0, 1, /*act=*/false));
}

at::Tensor RepVggBlockImpl::forward(const at::Tensor& x) {
  return layers::gelu(conv1->forward(x) + conv2->forward(x));
}

CSPRepLayerImpl::CSPRepLayerImpl(int64_t in, int64_t out, int64_t num_blocks, double expansion) {
  const int64_t hidden = static_cast<int64_t>(static_cast<double>(out) * expansion);
  if (hidden < 1) throw ConfigError("CSPRepLayer: expansion leaves no hidden channels");
  conv1 = register_module("conv1", A3Conv(in, hidden, 1));
  conv2 = register_module("conv2", A3Conv(in, hidden, 1));
  auto blocks = register_module("bottlenecks", torch::nn::Sequential());
  for (int64_t i = 0; i < num_blocks; ++i) {
    bottlenecks.push_back(RepVggBlock(hidden));
    blocks->push_back(bottlenecks.back());
  }
  if (hidden != out)
    conv3 = register_module(
        "conv3", A3Conv(hidden, out, 1, 1, 0, 1, /*act=*/false, /*bias=*/true, /*norm=*/false));
}

at::Tensor CSPRepLayerImpl::forward(const at::Tensor& x) {
  at::Tensor a = conv1->forward(x);
  for (auto& block : bottlenecks) a = block->forward(a);
  const at::Tensor y = a + conv2->forward(x);
  return conv3 ? conv3->forward(y) : y;
}

ChannelLayerNormImpl::ChannelLayerNormImpl(int64_t channels, double eps) : eps_(eps) {
  weight = register_parameter("weight", at::ones({channels}));
  bias = register_parameter("bias", at::zeros({channels}));
}

at::Tensor ChannelLayerNormImpl::forward(const at::Tensor& x) {
  const at::Tensor u = x.mean(1, true);
  const at::Tensor s = (x - u).pow(2).mean(1, true);
  return weight.view({1, -1, 1, 1}) * ((x - u) / at::sqrt(s + eps_)) + bias.view({1, -1, 1, 1});
}

ReassembleImpl::ReassembleImpl(int64_t channels, int64_t group_num, double gate_threshold)
    : gate_threshold_(gate_threshold) {
  if (group_num < 1 || channels % group_num != 0)
    throw ConfigError("Reassemble: group_num " + std::to_string(group_num) + " does not divide " +
                      std::to_string(channels) + " channels");
  gn = register_module("gn", torch::nn::GroupNorm(group_num, channels));
  norm = register_module("norm", ChannelLayerNorm(channels));
}

at::Tensor ReassembleImpl::forward(const at::Tensor& x) {
  const at::Tensor gamma = gn->weight / gn->weight.sum();
  const at::Tensor r = at::sigmoid(gn->forward(x) * gamma.view({1, -1, 1, 1}));
  const at::Tensor gate = r > gate_threshold_;
  const at::Tensor w1 = at::where(gate, at::ones_like(r), r);
  const at::Tensor w2 = at::where(gate, at::zeros_like(r), r);
  const at::Tensor y = w1 * x + (w2 * x).flip({1});
  return layers::gelu(norm->forward(y));
}

SampleBlockImpl::SampleBlockImpl(int64_t in, int64_t out, bool upsample, int64_t factor)
    : up_(upsample), factor_(factor) {
  if (upsample) {
    // Sequential(Conv or Identity, Upsample): the conv's names are sample_layer.0.*.
    auto sequence = register_module("sample_layer", torch::nn::Sequential());
    if (in != out) {
      conv_ = A3Conv(in, out, 1);
      sequence->push_back(conv_);
    }
  } else {
    // The Conv itself is the sample_layer (depthwise when in == out).
    conv_ = register_module("sample_layer", A3Conv(in, out, factor, factor, 0, in == out ? in : 1));
  }
}

at::Tensor SampleBlockImpl::forward(const at::Tensor& x) {
  if (!up_) return conv_->forward(x);
  const at::Tensor y = conv_ ? conv_->forward(x) : x;
  return at::upsample_bilinear2d(y, {y.size(2) * factor_, y.size(3) * factor_}, false,
                                 static_cast<double>(factor_), static_cast<double>(factor_));
}

}  // namespace vitrine::models
