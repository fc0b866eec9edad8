#include "models/necks/a3fpn.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/nn/modules/container/modulelist.h>

#include <string>

#include "core/error.h"

namespace vitrine::models {

A3FPNOptions A3FPNOptions::lite() {
  A3FPNOptions o;
  o.squeeze = {1, 2, 4, 8};
  o.using_resampling = {false, false, true};
  o.compress_channels = {16, 16, 16, 16};
  o.group_nums = {16, 16, 16, 16};
  o.expansion = 2.0;
  o.dcn_groups = {16, 16, 16, 16};
  o.offset_scale = 1.0;
  return o;
}

A3FPNOptions A3FPNOptions::preset(const std::string& name) {
  if (name == "a3fpn") return A3FPNOptions{};
  if (name == "a3fpn_lite") return lite();
  throw ConfigError("A3-FPN: unknown setting '" + name + "' (a3fpn or a3fpn_lite)");
}

A3FusionImpl::A3FusionImpl(int64_t channels, int64_t inputs, int64_t compress, int64_t num_blocks,
                           double expansion, bool resampling, int64_t dcn_groups,
                           double offset_scale, bool dcn_output_bias) {
  for (int64_t i = 0; i < inputs; ++i)
    weight_level.push_back(
        register_module("weight_level_" + std::to_string(i + 1), A3Conv(channels, compress, 1)));
  weight_levels = register_module("weight_levels",
                                  CSPRepLayer(compress * inputs, inputs, num_blocks, expansion));
  if (resampling) {
    context_conv = register_module("context_conv",
                                   A3Conv(channels * inputs, channels * (inputs - 1), 1, 1, 0));
    for (int64_t i = 0; i + 1 < inputs; ++i)
      resamplers.push_back(
          register_module("resampler" + std::to_string(i + 1),
                          DCNv4Resampler(channels, dcn_groups, offset_scale, dcn_output_bias)));
  }
}

at::Tensor A3FusionImpl::forward(std::vector<at::Tensor> x) {
  if (context_conv) {
    const std::vector<at::Tensor> context =
        context_conv->forward(at::cat(x, 1)).split(x.front().size(1), 1);
    for (size_t i = 0; i < resamplers.size(); ++i) x[i] = resamplers[i]->forward(context[i], x[i]);
  }
  std::vector<at::Tensor> compressed;
  for (size_t i = 0; i < x.size(); ++i) compressed.push_back(weight_level[i]->forward(x[i]));
  const at::Tensor w = at::sigmoid(weight_levels->forward(at::cat(compressed, 1)));
  at::Tensor out = x[0] * w.narrow(1, 0, 1);
  for (size_t i = 1; i < x.size(); ++i) out = out + x[i] * w.narrow(1, static_cast<int64_t>(i), 1);
  return out;  // the official `conv` is an identity (in == out channels)
}

struct A3FPNImpl::Level {
  std::shared_ptr<torch::nn::Module> module;
  std::vector<int64_t> order;         // MCA inputs by source index, own level last
  std::vector<SampleBlock> samplers;  // indexed by source (null for the own level)
  A3Fusion mca{nullptr};
  Reassemble ica{nullptr};
};

namespace {

// Official sample-block names per (stage inputs, level, source).
std::string sampler_name(int64_t k, int64_t level, int64_t source) {
  const int64_t factor = int64_t{1} << std::abs(source - level);
  const std::string dir = source > level ? "upsample" : "downsample";
  if (k == 2) return dir;
  const std::string suffix = level == 0 || (k == 3 && level == 2) ? "" : std::to_string(level);
  return dir + std::to_string(factor) + "x" + suffix;
}

std::vector<int64_t> mca_order(int64_t k, int64_t level) {
  static const std::vector<std::vector<std::vector<int64_t>>> orders = {
      {{1, 0}, {0, 1}},
      {{1, 2, 0}, {2, 0, 1}, {1, 0, 2}},
      {{1, 2, 3, 0}, {2, 3, 0, 1}, {3, 1, 0, 2}, {2, 1, 0, 3}}};
  return orders[k - 2][level];
}

}  // namespace

A3FPNImpl::A3FPNImpl(A3FPNOptions o) : options_(std::move(o)) {
  const A3FPNOptions& opt = options_;
  if (opt.in_channels.size() != 4 || opt.squeeze.size() != 4 || opt.compress_channels.size() != 4 ||
      opt.group_nums.size() != 4 || opt.dcn_groups.size() != 4 || opt.using_resampling.size() != 3)
    throw ConfigError(
        "A3-FPN: four input levels (in_channels, squeeze, compress_channels, "
        "group_nums, dcn_groups) and three using_resampling flags");
  std::vector<int64_t> reduced;
  for (size_t i = 0; i < 4; ++i) {
    if (opt.squeeze[i] < 1 || opt.in_channels[i] % opt.squeeze[i] != 0)
      throw ConfigError("A3-FPN: squeeze " + std::to_string(opt.squeeze[i]) + " does not divide " +
                        std::to_string(opt.in_channels[i]) + " channels");
    reduced.push_back(opt.in_channels[i] / opt.squeeze[i]);
    squeeze_convs_.push_back(opt.squeeze[i] == 1
                                 ? A3Conv(nullptr)
                                 : register_module("conv" + std::to_string(i),
                                                   A3Conv(opt.in_channels[i], reduced[i], 1)));
  }
  auto body = register_module("a3fpn_body", std::make_shared<torch::nn::Module>());
  for (int64_t k = 2; k <= 4; ++k) {
    // The stage works on levels first..first+k-1.
    const int64_t first = opt.bottom_up ? 0 : 4 - k;
    for (int64_t j = 0; j < k; ++j) {
      auto level = std::make_shared<Level>();
      level->module =
          body->register_module("a3fpn_" + std::to_string(k) + "_level" + std::to_string(j),
                                std::make_shared<torch::nn::Module>());
      level->order = mca_order(k, j);
      level->samplers.resize(k, SampleBlock(nullptr));
      const int64_t c = reduced[first + j];
      for (int64_t s = 0; s < k; ++s) {
        if (s == j) continue;
        const int64_t factor = int64_t{1} << std::abs(s - j);
        level->samplers[s] = level->module->register_module(
            sampler_name(k, j, s), SampleBlock(reduced[first + s], c, s > j, factor));
      }
      const size_t setting = static_cast<size_t>(first + j);
      level->mca = level->module->register_module(
          "MCA", A3Fusion(c, k, opt.compress_channels[setting], opt.num_repblocks, opt.expansion,
                          opt.using_resampling[k - 2], opt.dcn_groups[setting], opt.offset_scale,
                          opt.dcn_output_bias));
      level->ica = level->module->register_module("ICA", Reassemble(c, opt.group_nums[setting]));
      (k == 2 ? stage2_ : k == 3 ? stage3_ : stage4_).push_back(level);
    }
  }
  for (size_t i = 0; i < 4; ++i)
    output_convs_.push_back(register_module("conv" + std::to_string(i) + std::to_string(i),
                                            A3Conv(reduced[i], opt.out_channels, 3)));
  if (opt.extra_levels < 0) throw ConfigError("A3-FPN: extra_levels must be >= 0");
  const auto extra_conv = [&] { return A3Conv(opt.out_channels, opt.out_channels, 3, 2, 1); };
  if (opt.extra_levels > 0) extra_convs_.push_back(register_module("conv44", extra_conv()));
  if (opt.extra_levels > 1) {
    auto extras = register_module("extra_convs", torch::nn::ModuleList());
    for (int64_t i = 1; i < opt.extra_levels; ++i) {
      extra_convs_.push_back(extra_conv());
      extras->push_back(extra_convs_.back());
    }
  }
}

at::Tensor A3FPNImpl::body_level(int64_t k, int64_t j, const std::vector<at::Tensor>& x) {
  TORCH_CHECK(k >= 2 && k <= 4 && j >= 0 && j < k, "A3-FPN: no body level ", k, "/", j);
  TORCH_CHECK(static_cast<int64_t>(x.size()) == k, "A3-FPN: level ", k, "/", j, " takes ", k,
              " inputs, got ", x.size());
  auto& stage = k == 2 ? stage2_ : k == 3 ? stage3_ : stage4_;
  return run_level(*stage[static_cast<size_t>(j)], x);
}

at::Tensor A3FPNImpl::run_level(Level& level, const std::vector<at::Tensor>& x) {
  std::vector<at::Tensor> inputs;
  for (int64_t s : level.order)
    inputs.push_back(level.samplers[s] ? level.samplers[s]->forward(x[s]) : x[s]);
  return level.ica->forward(level.mca->forward(inputs));
}

std::vector<at::Tensor> A3FPNImpl::forward(const std::vector<at::Tensor>& inputs) {
  TORCH_CHECK(inputs.size() == 4, "A3-FPN: expected 4 feature maps, got ", inputs.size());
  std::vector<at::Tensor> x(4);
  for (size_t i = 0; i < 4; ++i) {
    TORCH_CHECK(inputs[i].dim() == 4 && inputs[i].size(1) == options_.in_channels[i],
                "A3-FPN: level ", i, " should have ", options_.in_channels[i],
                " channels, got shape ", inputs[i].sizes());
    if (i > 0)
      TORCH_CHECK(inputs[i - 1].size(2) == 2 * inputs[i].size(2) &&
                      inputs[i - 1].size(3) == 2 * inputs[i].size(3),
                  "A3-FPN: each level must be exactly half the previous one (pad the image to a "
                  "multiple of 32), got ",
                  inputs[i - 1].sizes(), " then ", inputs[i].sizes());
    x[i] = squeeze_convs_[i] ? squeeze_convs_[i]->forward(inputs[i]) : inputs[i];
  }
  // Stages 2 and 3 give stage 4's inputs.
  std::vector<at::Tensor> s4;
  if (options_.bottom_up) {
    // mmseg's Body: stage 2 on (x0, x1), level 1 first and level 0 on its result; stage 3 on
    // (o0, x1', x2); stage 4 on (x0', o1, x2', x3).
    const at::Tensor x1a = run_level(*stage2_[1], {x[0], x[1]});
    const at::Tensor o0 = run_level(*stage2_[0], {x[0], x1a});
    const std::vector<at::Tensor> s3{o0, x1a, x[2]};
    s4 = {run_level(*stage3_[0], s3), run_level(*stage3_[1], s3), run_level(*stage3_[2], s3), x[3]};
  } else {
    // Stage 2 on (x2, x3), stage 3 on (x1, o2, x3), stage 4 on all four.
    const at::Tensor o2 = run_level(*stage2_[0], {x[2], x[3]});
    const at::Tensor x3a = run_level(*stage2_[1], {x[2], x[3]});
    const std::vector<at::Tensor> s3{x[1], o2, x3a};
    s4 = {x[0], run_level(*stage3_[0], s3), run_level(*stage3_[1], s3), run_level(*stage3_[2], s3)};
  }
  std::vector<at::Tensor> out;
  for (size_t j = 0; j < 4; ++j)
    out.push_back(output_convs_[j]->forward(run_level(*stage4_[j], s4)));
  for (A3Conv& conv : extra_convs_) out.push_back(conv->forward(out.back()));
  return out;
}

}  // namespace vitrine::models
