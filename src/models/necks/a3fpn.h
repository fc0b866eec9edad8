// A3-FPN (mason-ching/A3-FPN) as a neck over four backbone levels, with the official module
// names (conv0..3, a3fpn_body.a3fpn_{2,3,4}_level{j}.{MCA,ICA,<sample blocks>}, conv00..33):
// input squeeze, the three-stage top-down column of Fusion (multi-scale context-aware attention
// with optional DCNv4-form resampling) and Reassemble (intra-scale attention), 3x3 output convs.
// See docs/a3fpn_facts.md for the structure and settings.
#pragma once

#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <vector>

#include "models/necks/a3fpn_blocks.h"
#include "models/necks/dcnv4_resampler.h"

namespace vitrine::models {

struct A3FPNOptions {
  std::vector<int64_t> in_channels{256, 512, 1024, 2048};
  int64_t out_channels = 256;
  std::vector<int64_t> squeeze{1, 2, 4, 4};
  std::vector<bool> using_resampling{true, true, true};  // the 2-, 3- and 4-input stages
  std::vector<int64_t> compress_channels{16, 16, 16, 32};
  std::vector<int64_t> group_nums{16, 16, 16, 32};
  int64_t num_repblocks = 1;
  double expansion = 4.0;
  std::vector<int64_t> dcn_groups{16, 16, 16, 32};
  double offset_scale = 2.0;
  bool dcn_output_bias = true;
  // Levels added above P5, as the official mmdetection A3FPN builds them (end_level = 4 +
  // extra_levels): P6 = `conv44`, a 3x3 stride-2 conv without bias -> BatchNorm -> GELU (the
  // neck's Conv) on the P5 output; each further level the same conv on the level before,
  // named extra_convs.0, extra_convs.1, ...
  int64_t extra_levels = 0;
  // mmsegmentation's form (inside A3FPNUperNetHead): the body runs bottom-up — stage k on levels
  // 0..k-1 with the settings of level j counted from the start — where mmdetection's and
  // detectron2's run top-down on levels 4-k..3 with settings counted from the end.
  bool bottom_up = false;
  // The paper's Lite setting: squeeze [1, 2, 4, 8], resampling in stage 3 only, expansion 2,
  // 16 everywhere.
  static A3FPNOptions lite();
  // "a3fpn" (the R50 setting above) or "a3fpn_lite"; ConfigError otherwise.
  static A3FPNOptions preset(const std::string& name);
};

// `Fusion` over n inputs of `channels` (the level's own input last).
class A3FusionImpl : public torch::nn::Module {
 public:
  A3FusionImpl(int64_t channels, int64_t inputs, int64_t compress, int64_t num_blocks,
               double expansion, bool resampling, int64_t dcn_groups, double offset_scale,
               bool dcn_output_bias);
  at::Tensor forward(std::vector<at::Tensor> x);

  std::vector<A3Conv> weight_level;
  CSPRepLayer weight_levels{nullptr};
  A3Conv context_conv{nullptr};
  std::vector<DCNv4Resampler> resamplers;
};
TORCH_MODULE(A3Fusion);

class A3FPNImpl : public torch::nn::Module {
 public:
  explicit A3FPNImpl(A3FPNOptions options);
  // Four maps (strides 4..32, finest first) -> 4 + extra_levels maps of out_channels.
  std::vector<at::Tensor> forward(const std::vector<at::Tensor>& inputs);
  const A3FPNOptions& options() const { return options_; }
  // One level of the body alone: A3FPN_k level j (k = 2..4) on its stage's k inputs (tests
  // write the stages' schedule out with it).
  at::Tensor body_level(int64_t k, int64_t j, const std::vector<at::Tensor>& x);

 private:
  struct Level;  // one A3FPN_k level: sample blocks, MCA, ICA
  at::Tensor run_level(Level& level, const std::vector<at::Tensor>& x);

  A3FPNOptions options_;
  std::vector<A3Conv> squeeze_convs_, output_convs_;
  std::vector<A3Conv> extra_convs_;  // conv44, then extra_convs.i
  std::vector<std::shared_ptr<Level>> stage2_, stage3_, stage4_;
};
TORCH_MODULE(A3FPN);

}  // namespace vitrine::models
