#include "models/backbones/resnet.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/container/sequential.h>

#include <cmath>

#include "config/view.h"
#include "core/error.h"
#include "models/model_options.h"

namespace vitrine::models {
namespace {

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false));
}

layers::BatchNorm2d norm(int64_t channels) {
  return layers::BatchNorm2d(torch::nn::BatchNorm2dOptions(channels));
}

// Multiply-adds of a conv on an h x w input; updates h, w.
double conv_macs(const torch::nn::Conv2d& c, int64_t& h, int64_t& w) {
  const auto& o = c->options;
  const int64_t k = (*o.kernel_size())[0], s = (*o.stride())[0], p = k / 2;
  h = (h + 2 * p - k) / s + 1;
  w = (w + 2 * p - k) / s + 1;
  return static_cast<double>(h) * w * o.out_channels() * o.in_channels() * k * k;
}

}  // namespace

// torchvision's BasicBlock (3x3, 3x3) or Bottleneck (1x1, 3x3 with the stride, 1x1 x4).
class ResNetBlock : public torch::nn::Module {
 public:
  ResNetBlock(bool bottleneck, int64_t in, int64_t width, int64_t stride) {
    const int64_t out = bottleneck ? width * 4 : width;
    if (bottleneck) {
      convs_ = {conv(in, width, 1, 1), conv(width, width, 3, stride), conv(width, out, 1, 1)};
    } else {
      convs_ = {conv(in, width, 3, stride), conv(width, width, 3, 1)};
    }
    for (size_t i = 0; i < convs_.size(); ++i) {
      const int64_t channels = convs_[i]->options.out_channels();
      register_module("conv" + std::to_string(i + 1), convs_[i]);
      norms_.push_back(register_module("bn" + std::to_string(i + 1), norm(channels)));
    }
    if (stride != 1 || in != out) {
      downsample_ =
          register_module("downsample", torch::nn::Sequential(conv(in, out, 1, stride), norm(out)));
      down_conv_ = downsample_->ptr<torch::nn::Conv2dImpl>(0);
    }
  }

  at::Tensor forward(const at::Tensor& input) {
    at::Tensor x = input;
    for (size_t i = 0; i < convs_.size(); ++i) {
      x = norms_[i]->forward(convs_[i]->forward(x));
      if (i + 1 < convs_.size()) x = at::relu(x);
    }
    return at::relu(x + (downsample_ ? downsample_->forward(input) : input));
  }

  double macs(int64_t& h, int64_t& w) const {
    int64_t sh = h, sw = w;
    double total = 0;
    for (const auto& c : convs_) total += conv_macs(c, h, w);
    if (down_conv_) total += conv_macs(torch::nn::Conv2d(down_conv_), sh, sw);
    return total;
  }

  void zero_last_norm() {
    at::NoGradGuard no_grad;
    norms_.back()->weight.zero_();
  }

 private:
  std::vector<torch::nn::Conv2d> convs_;
  std::vector<layers::BatchNorm2d> norms_;
  torch::nn::Sequential downsample_{nullptr};
  std::shared_ptr<torch::nn::Conv2dImpl> down_conv_;
};

ResNet::ResNet(ResNetConfig c) : config_(std::move(c)) {
  if (config_.layers.size() != 4)
    throw ConfigError("ResNet: layers needs 4 entries (blocks per stage)");
  if (config_.base_width < 1) throw ConfigError("ResNet: base_width must be positive");
  const int64_t base = config_.base_width;
  conv1_ = register_module(
      "conv1",
      torch::nn::Conv2d(
          torch::nn::Conv2dOptions(config_.in_chans, base, 7).stride(2).padding(3).bias(false)));
  bn1_ = register_module("bn1", norm(base));
  int64_t in = base;
  for (size_t s = 0; s < 4; ++s) {
    const int64_t width = base << s;
    auto layer = register_module("layer" + std::to_string(s + 1), torch::nn::ModuleList());
    std::vector<std::shared_ptr<ResNetBlock>> blocks;
    for (int64_t b = 0; b < config_.layers[s]; ++b) {
      auto block =
          std::make_shared<ResNetBlock>(config_.bottleneck, in, width, b == 0 && s > 0 ? 2 : 1);
      layer->push_back(block);
      blocks.push_back(block);
      in = config_.bottleneck ? width * 4 : width;
    }
    stages_.push_back(std::move(blocks));
  }
  if (config_.num_classes > 0)
    fc_ = register_module("fc", torch::nn::Linear(in, config_.num_classes));

  // torchvision's init: kaiming_normal (fan_out, relu) for convs, BN (1, 0); the fc keeps
  // PyTorch's default.
  at::NoGradGuard no_grad;
  for (auto& m : modules(false)) {
    if (auto* conv2d = m->as<torch::nn::Conv2d>()) {
      const auto& o = conv2d->options;
      const double fan_out =
          static_cast<double>(o.out_channels() * (*o.kernel_size())[0] * (*o.kernel_size())[1]);
      conv2d->weight.normal_(0, std::sqrt(2.0 / fan_out));
    } else if (auto* bn = m->as<layers::BatchNorm2d>()) {
      bn->weight.fill_(1);
      bn->bias.zero_();
    }
  }
  if (config_.zero_init_residual)
    for (auto& stage : stages_)
      for (auto& block : stage) block->zero_last_norm();
}

std::vector<at::Tensor> ResNet::forward_features(const at::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == config_.in_chans, "ResNet: expected [B, ",
              config_.in_chans, ", H, W] images, got shape ", images.sizes());
  at::Tensor x =
      at::max_pool2d(at::relu(bn1_->forward(conv1_->forward(images))), {3, 3}, {2, 2}, {1, 1});
  std::vector<at::Tensor> pyramid;
  for (auto& stage : stages_) {
    for (auto& block : stage) x = block->forward(x);
    pyramid.push_back(x);
  }
  return pyramid;
}

at::Tensor ResNet::forward_head(const at::Tensor& last_level) {
  const at::Tensor pooled = last_level.mean({2, 3});
  return fc_ ? fc_->forward(pooled) : pooled;
}

at::Tensor ResNet::forward(const at::Tensor& images) {
  return forward_head(forward_features(images).back());
}

std::vector<int64_t> ResNet::feature_channels() const {
  const int64_t e = config_.bottleneck ? 4 : 1;
  const int64_t b = config_.base_width;
  return {b * e, 2 * b * e, 4 * b * e, 8 * b * e};
}

double ResNet::flops(int64_t img_size) const {
  int64_t h = img_size, w = img_size;
  double total = conv_macs(conv1_, h, w);
  h = (h + 2 - 3) / 2 + 1;
  w = (w + 2 - 3) / 2 + 1;
  for (const auto& stage : stages_)
    for (const auto& block : stage) total += block->macs(h, w);
  return total + (fc_ ? static_cast<double>(fc_->weight.numel()) : 0);
}

namespace {

void add(ModelRegistry& registry, const char* name, ResNetConfig c, PaperNumbers paper) {
  ModelEntry e;
  e.name = name;
  e.family = "ResNet";
  e.paper = paper;
  e.create = [c](const config::ConfigView& view) -> ModelPtr {
    static const auto table = classifier_options<ResNetConfig>()
                                  .field("zero_init_residual", &ResNetConfig::zero_init_residual)
                                  .field("base_width", &ResNetConfig::base_width);
    return std::make_shared<ResNet>(table.apply(view, c));
  };
  e.count_flops = [c](int64_t img_size) { return ResNet(c).flops(img_size); };
  registry.add(std::move(e));
}

}  // namespace

void register_resnet_family(ModelRegistry& r) {
  // torchvision's counts and ImageNet-1k top-1 of its V1 weights.
  add(r, "resnet18", {false, {2, 2, 2, 2}}, {11.69, 1.81, 69.76});
  add(r, "resnet34", {false, {3, 4, 6, 3}}, {21.80, 3.66, 73.31});
  add(r, "resnet50", {true, {3, 4, 6, 3}}, {25.56, 4.09, 76.13});
  add(r, "resnet101", {true, {3, 4, 23, 3}}, {44.55, 7.80, 77.37});
  add(r, "resnet152", {true, {3, 8, 36, 3}}, {60.19, 11.51, 78.31});
}

}  // namespace vitrine::models
