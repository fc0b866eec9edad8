// Channel attention of timm's CNN blocks: squeeze-and-excitation (`se`: SEModule, names
// fc1/fc2, rd = make_divisible(channels * rd_ratio, 8, round_limit 0)) and efficient channel
// attention (`eca`: EcaModule, a 1-D conv over pooled channels with the kernel size from
// log2(channels), name conv).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>

#include <memory>
#include <string>

namespace vitrine::layers {

class ChannelAttention : public torch::nn::Module {
 public:
  virtual at::Tensor forward(const at::Tensor& x) = 0;
  virtual double macs(int64_t h, int64_t w) const = 0;
};

class SqueezeExcite : public ChannelAttention {
 public:
  SqueezeExcite(int64_t channels, double rd_ratio = 1.0 / 16, int64_t rd_divisor = 8);
  at::Tensor forward(const at::Tensor& x) override;
  double macs(int64_t h, int64_t w) const override;
  torch::nn::Conv2d fc1{nullptr}, fc2{nullptr};
};

class EfficientChannelAttention : public ChannelAttention {
 public:
  explicit EfficientChannelAttention(int64_t channels, double gamma = 2, double beta = 1);
  at::Tensor forward(const at::Tensor& x) override;
  double macs(int64_t h, int64_t w) const override;
  int64_t kernel_size() const { return kernel_size_; }
  torch::nn::Conv1d conv{nullptr};

 private:
  int64_t kernel_size_;
};

// "se" or "eca" (nullptr for ""); ConfigError otherwise.
std::shared_ptr<ChannelAttention> make_channel_attention(const std::string& kind, int64_t channels,
                                                         double se_rd_ratio);

}  // namespace vitrine::layers
