#include "models/heads/decode_heads.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/pooling.h>

#include <cmath>

#include "core/error.h"
#include "layers/layer_random.h"

namespace vitrine::models {
namespace {

layers::ConvNormAct conv_module(int64_t in, int64_t out, int64_t kernel) {
  return layers::conv_norm_act(in, out, kernel, layers::Activation::kReLU);
}

// mmcv's kaiming_init for ConvModules (fan_out, normal, ReLU gain), BN (1, 0); mmseg's
// normal_init(conv_seg, std=0.01).
void init_head(torch::nn::Module& head, torch::nn::Conv2d& conv_seg) {
  at::NoGradGuard no_grad;
  for (auto& m : head.modules(false)) {
    if (auto* conv = m->as<torch::nn::Conv2d>()) {
      const auto& o = conv->options;
      const double fan_out = static_cast<double>(o.out_channels() * (*o.kernel_size())[0] *
                                                 (*o.kernel_size())[1] / o.groups());
      conv->weight.normal_(0, std::sqrt(2.0 / fan_out));
      if (conv->bias.defined()) conv->bias.zero_();
    } else if (auto* bn = m->as<layers::BatchNormAct2d>()) {
      bn->weight.fill_(1);
      bn->bias.zero_();
    }
  }
  conv_seg->weight.normal_(0, 0.01);
  conv_seg->bias.zero_();
}

// Dropout2d: whole channels dropped, survivors scaled, from the layer generator.
at::Tensor dropout2d(const at::Tensor& x, double p, bool training) {
  if (!training || p == 0) return x;
  return x * layers::keep_mask({x.size(0), x.size(1), 1, 1}, x.options(), 1.0 - p);
}

}  // namespace

at::Tensor resize_bilinear(const at::Tensor& x, int64_t height, int64_t width) {
  if (x.size(2) == height && x.size(3) == width) return x;
  return at::upsample_bilinear2d(x, {height, width}, /*align_corners=*/false);
}

UPerHeadImpl::UPerHeadImpl(UPerHeadOptions o) : options_(std::move(o)) {
  const auto& in = options_.in_channels;
  if (in.size() < 2) throw ConfigError("UPerHead: needs at least two input levels");
  if (options_.num_classes < 1 || options_.channels < 1)
    throw ConfigError("UPerHead: num_classes and channels must be positive");
  const int64_t c = options_.channels;
  auto psp = register_module("psp_modules", torch::nn::ModuleList());
  for (int64_t scale : options_.pool_scales) {
    layers::ConvNormAct conv = conv_module(in.back(), c, 1);
    psp->push_back(torch::nn::Sequential(
        torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions(scale)), conv));
    psp_convs_.push_back(conv);
  }
  bottleneck_ = register_module(
      "bottleneck",
      conv_module(in.back() + static_cast<int64_t>(options_.pool_scales.size()) * c, c, 3));
  if (options_.a3fpn && in.size() != 4)
    throw ConfigError("UPerHead: the A3-FPN form needs four input levels");
  if (!options_.a3fpn) {  // the A3-FPN form has no lateral or fpn convs
    auto laterals = register_module("lateral_convs", torch::nn::ModuleList());
    auto fpns = register_module("fpn_convs", torch::nn::ModuleList());
    for (size_t i = 0; i + 1 < in.size(); ++i) {
      lateral_convs_.push_back(conv_module(in[i], c, 1));
      laterals->push_back(lateral_convs_.back());
      fpn_convs_.push_back(conv_module(c, c, 3));
      fpns->push_back(fpn_convs_.back());
    }
  }
  fpn_bottleneck_ =
      register_module("fpn_bottleneck", conv_module(static_cast<int64_t>(in.size()) * c, c, 3));
  conv_seg_ = register_module(
      "conv_seg", torch::nn::Conv2d(torch::nn::Conv2dOptions(c, options_.num_classes, 1)));
  init_head(*this, conv_seg_);
  if (options_.a3fpn) {  // after init_head: the neck initialises its own layers
    A3FPNOptions a;
    a.in_channels = {in[0], in[1], in[2], c};
    a.out_channels = c;
    a.squeeze = {1, 2, 4, 1};
    a.bottom_up = true;
    a3fpn_ = register_module("a3fpn", A3FPN(a));
  }
}

at::Tensor UPerHeadImpl::forward(const std::vector<at::Tensor>& levels) {
  TORCH_CHECK(levels.size() == options_.in_channels.size(), "UPerHead: expected ",
              options_.in_channels.size(), " levels, got ", levels.size());
  for (size_t i = 0; i < levels.size(); ++i)
    TORCH_CHECK(levels[i].dim() == 4 && levels[i].size(1) == options_.in_channels[i],
                "UPerHead: level ", i, " should have ", options_.in_channels[i],
                " channels, got shape ", levels[i].sizes());
  // PPM on the coarsest level.
  const at::Tensor& top = levels.back();
  std::vector<at::Tensor> psp{top};
  for (size_t i = 0; i < psp_convs_.size(); ++i) {
    const at::Tensor pooled =
        at::adaptive_avg_pool2d(top, {options_.pool_scales[i], options_.pool_scales[i]});
    psp.push_back(resize_bilinear(psp_convs_[i]->forward(pooled), top.size(2), top.size(3)));
  }
  std::vector<at::Tensor> laterals;
  for (size_t i = 0; i < lateral_convs_.size(); ++i)
    laterals.push_back(lateral_convs_[i]->forward(levels[i]));
  laterals.push_back(bottleneck_->forward(at::cat(psp, 1)));
  if (a3fpn_) {
    std::vector<at::Tensor> outs = a3fpn_->forward({levels[0], levels[1], levels[2], laterals[0]});
    for (size_t i = 1; i < outs.size(); ++i)
      outs[i] = resize_bilinear(outs[i], outs[0].size(2), outs[0].size(3));
    const at::Tensor fused = fpn_bottleneck_->forward(at::cat(outs, 1));
    return conv_seg_->forward(dropout2d(fused, options_.dropout, is_training()));
  }
  // Top-down.
  for (size_t i = laterals.size() - 1; i > 0; --i)
    laterals[i - 1] = laterals[i - 1] + resize_bilinear(laterals[i], laterals[i - 1].size(2),
                                                        laterals[i - 1].size(3));
  std::vector<at::Tensor> outs;
  for (size_t i = 0; i < fpn_convs_.size(); ++i)
    outs.push_back(fpn_convs_[i]->forward(laterals[i]));
  outs.push_back(laterals.back());
  for (size_t i = 1; i < outs.size(); ++i)
    outs[i] = resize_bilinear(outs[i], outs[0].size(2), outs[0].size(3));
  const at::Tensor fused = fpn_bottleneck_->forward(at::cat(outs, 1));
  return conv_seg_->forward(dropout2d(fused, options_.dropout, is_training()));
}

FCNHeadImpl::FCNHeadImpl(FCNHeadOptions o) : options_(std::move(o)) {
  if (options_.num_convs < 0 || options_.num_classes < 1)
    throw ConfigError("FCNHead: num_convs must be >= 0 and num_classes positive");
  if (options_.num_convs == 0 && options_.in_channels != options_.channels)
    throw ConfigError("FCNHead: without convs the input must have `channels` channels");
  auto convs = register_module("convs", torch::nn::Sequential());
  for (int64_t i = 0; i < options_.num_convs; ++i) {
    convs_.push_back(
        conv_module(i == 0 ? options_.in_channels : options_.channels, options_.channels, 3));
    convs->push_back(convs_.back());
  }
  if (options_.concat_input)
    conv_cat_ = register_module(
        "conv_cat", conv_module(options_.in_channels + options_.channels, options_.channels, 3));
  conv_seg_ = register_module("conv_seg", torch::nn::Conv2d(torch::nn::Conv2dOptions(
                                              options_.channels, options_.num_classes, 1)));
  init_head(*this, conv_seg_);
}

at::Tensor FCNHeadImpl::forward(const at::Tensor& x) {
  at::Tensor y = x;
  for (auto& conv : convs_) y = conv->forward(y);
  if (conv_cat_) y = conv_cat_->forward(at::cat({x, y}, 1));
  return conv_seg_->forward(dropout2d(y, options_.dropout, is_training()));
}

}  // namespace vitrine::models
