#include "layers/channel_attention.h"

#include <ATen/ATen.h>

#include <cmath>

#include "core/error.h"
#include "layers/make_divisible.h"

namespace vitrine::layers {

SqueezeExcite::SqueezeExcite(int64_t channels, double rd_ratio, int64_t rd_divisor) {
  const int64_t rd = make_divisible(static_cast<double>(channels) * rd_ratio, rd_divisor, 0, 0.0);
  fc1 = register_module("fc1", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, rd, 1)));
  fc2 = register_module("fc2", torch::nn::Conv2d(torch::nn::Conv2dOptions(rd, channels, 1)));
}

at::Tensor SqueezeExcite::forward(const at::Tensor& x) {
  const at::Tensor s = x.mean({2, 3}, /*keepdim=*/true);
  return x * at::sigmoid(fc2->forward(at::relu(fc1->forward(s))));
}

double SqueezeExcite::macs(int64_t, int64_t) const {
  return 2.0 * static_cast<double>(fc1->weight.numel());
}

EfficientChannelAttention::EfficientChannelAttention(int64_t channels, double gamma, double beta) {
  const int64_t t =
      static_cast<int64_t>(std::abs(std::log2(static_cast<double>(channels)) + beta) / gamma);
  kernel_size_ = std::max<int64_t>(t % 2 ? t : t + 1, 3);
  conv = register_module("conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(1, 1, kernel_size_)
                                                       .padding((kernel_size_ - 1) / 2)
                                                       .bias(false)));
}

at::Tensor EfficientChannelAttention::forward(const at::Tensor& x) {
  const at::Tensor y = conv->forward(x.mean({2, 3}).view({x.size(0), 1, -1}));
  return x * at::sigmoid(y).view({x.size(0), -1, 1, 1});
}

double EfficientChannelAttention::macs(int64_t, int64_t) const {
  return static_cast<double>(kernel_size_);
}

std::shared_ptr<ChannelAttention> make_channel_attention(const std::string& kind, int64_t channels,
                                                         double se_rd_ratio) {
  if (kind.empty()) return nullptr;
  if (kind == "se") return std::make_shared<SqueezeExcite>(channels, se_rd_ratio);
  if (kind == "eca") return std::make_shared<EfficientChannelAttention>(channels);
  throw ConfigError("unknown channel attention '" + kind + "' (se, eca or empty)");
}

}  // namespace vitrine::layers
