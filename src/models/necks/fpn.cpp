#include "models/necks/fpn.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/nn/init.h>

#include "core/error.h"

namespace vitrine::models {
namespace {

// mmcv's ConvModule without norm or activation: a module whose only child is `conv` (bias on).
torch::nn::Conv2d conv_module(torch::nn::ModuleList list, int64_t in, int64_t out, int64_t kernel,
                              int64_t stride) {
  auto holder = std::make_shared<torch::nn::Module>();
  auto conv = holder->register_module(
      "conv", torch::nn::Conv2d(
                  torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2)));
  // mmdet's FPN init: Xavier uniform weights, zero bias.
  torch::NoGradGuard no_grad;
  torch::nn::init::xavier_uniform_(conv->weight);
  conv->bias.zero_();
  list->push_back(holder);
  return conv;
}

}  // namespace

FPNImpl::FPNImpl(FPNOptions o) : options_(std::move(o)) {
  const int64_t num_ins = static_cast<int64_t>(options_.in_channels.size());
  if (num_ins == 0) throw ConfigError("FPN: in_channels lists no level");
  const int64_t start = options_.start_level;
  if (start < 0 || start >= num_ins)
    throw ConfigError("FPN: start_level " + std::to_string(start) + " outside the " +
                      std::to_string(num_ins) + " input levels");
  if (options_.end_level == -1 || options_.end_level == num_ins - 1) {
    backbone_end_level_ = num_ins;
    if (options_.num_outs < num_ins - start)
      throw ConfigError("FPN: num_outs must cover the used input levels");
  } else {
    backbone_end_level_ = options_.end_level + 1;
    if (options_.end_level >= num_ins || options_.num_outs != options_.end_level - start + 1)
      throw ConfigError("FPN: with end_level set, num_outs must equal end_level - start_level + 1");
  }
  const std::string& extra = options_.add_extra_convs;
  if (!extra.empty() && extra != "on_input" && extra != "on_lateral" && extra != "on_output")
    throw ConfigError(
        "FPN: add_extra_convs must be empty, on_input, on_lateral or on_output, "
        "got '" +
        extra + "'");
  auto laterals = register_module("lateral_convs", torch::nn::ModuleList());
  auto outputs = register_module("fpn_convs", torch::nn::ModuleList());
  const int64_t out = options_.out_channels;
  for (int64_t i = start; i < backbone_end_level_; ++i) {
    lateral_convs.push_back(conv_module(laterals, options_.in_channels[i], out, 1, 1));
    fpn_convs.push_back(conv_module(outputs, out, out, 3, 1));
  }
  const int64_t extra_levels = options_.num_outs - backbone_end_level_ + start;
  if (!extra.empty())
    for (int64_t i = 0; i < extra_levels; ++i) {
      const int64_t in =
          i == 0 && extra == "on_input" ? options_.in_channels[backbone_end_level_ - 1] : out;
      fpn_convs.push_back(conv_module(outputs, in, out, 3, 2));
    }
}

std::vector<at::Tensor> FPNImpl::forward(const std::vector<at::Tensor>& inputs) {
  TORCH_CHECK(inputs.size() == options_.in_channels.size(), "FPN: expected ",
              options_.in_channels.size(), " feature maps, got ", inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i)
    TORCH_CHECK(inputs[i].dim() == 4 && inputs[i].size(1) == options_.in_channels[i], "FPN: level ",
                i, " should have ", options_.in_channels[i], " channels, got shape ",
                inputs[i].sizes());
  const int64_t start = options_.start_level;
  std::vector<at::Tensor> laterals;
  for (size_t i = 0; i < lateral_convs.size(); ++i)
    laterals.push_back(lateral_convs[i]->forward(inputs[i + start]));
  // Top-down: nearest upsampling to the finer level's exact size.
  for (size_t i = laterals.size() - 1; i > 0; --i)
    laterals[i - 1] =
        laterals[i - 1] +
        at::upsample_nearest2d(laterals[i], {laterals[i - 1].size(2), laterals[i - 1].size(3)});
  std::vector<at::Tensor> outs;
  for (size_t i = 0; i < laterals.size(); ++i) outs.push_back(fpn_convs[i]->forward(laterals[i]));
  const size_t used = laterals.size();
  if (static_cast<int64_t>(outs.size()) < options_.num_outs) {
    const std::string& extra = options_.add_extra_convs;
    if (extra.empty()) {
      while (static_cast<int64_t>(outs.size()) < options_.num_outs)
        outs.push_back(at::max_pool2d(outs.back(), {1, 1}, {2, 2}));
    } else {
      const at::Tensor source = extra == "on_input"     ? inputs[backbone_end_level_ - 1]
                                : extra == "on_lateral" ? laterals.back()
                                                        : outs.back();
      outs.push_back(fpn_convs[used]->forward(source));
      for (size_t i = used + 1; static_cast<int64_t>(i) < options_.num_outs; ++i)
        outs.push_back(fpn_convs[i]->forward(
            options_.relu_before_extra_convs ? at::relu(outs.back()) : outs.back()));
    }
  }
  return outs;
}

}  // namespace vitrine::models
