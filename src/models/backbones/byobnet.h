// timm's "bring your own blocks" network (models/byobnet.py) for the block types the HaloNet
// family uses: ResNet bottlenecks (`bottle`) and self-attention bottlenecks (`self_attn`: halo
// attention, bottleneck (BoT) attention or lambda layers), tiered / 7x7 / 3x3 stems, conv1x1 or no
// downsampling shortcuts, SE or ECA channel attention, an optional final 1x1 conv and a linear
// head. Module and parameter names follow timm (stem.conv1.conv.weight,
// stages.2.1.self_attn.q.weight, final_conv.bn.weight, head.fc.weight), so timm checkpoints load by
// name.
#pragma once

#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>

#include <optional>
#include <string>
#include <vector>

#include "layers/channel_attention.h"
#include "layers/conv_norm_act.h"
#include "layers/drop_path.h"
#include "layers/dropout.h"
#include "models/registry.h"

namespace vitrine::models {

// The attention of a self-attention block (timm's self_attn_layer and self_attn_kwargs). The
// defaults are halo attention's; bottleneck_attention() and lambda_layer() give the others'.
struct SelfAttnSettings {
  std::string layer = "halo";  // "halo", "bottleneck" (needs the model's img_size), "lambda"
  int64_t num_heads = 8;
  int64_t dim_head = 0;  // q/k width per head; 0: from qk_ratio
  int64_t block_size = 8;
  int64_t halo_size = 3;
  double qk_ratio = 1.0;
  // HaloNet paper's r_v: the values (and so the attention output) are r_v times the bottleneck
  // width, queries and keys stay at the bottleneck width.
  double value_ratio = 1.0;
  int64_t lambda_r = 9;  // lambda convolution size (0: relative position embedding)
};
SelfAttnSettings bottleneck_attention();   // timm's BottleneckAttn defaults: 4 heads
SelfAttnSettings lambda_layer(int64_t r);  // timm's LambdaLayer defaults: 4 heads, k = 16

struct ByoBlockCfg {
  std::string type;                           // "bottle" or "self_attn"
  int64_t c = 0;                              // output channels
  int64_t s = 1;                              // stride of the stage's first block
  int64_t gs = 0;                             // group size of the kxk conv (0: one group)
  double br = 1.0;                            // bottleneck ratio
  std::optional<SelfAttnSettings> self_attn;  // overrides the model's
};

struct ByoModelCfg {
  std::vector<std::vector<ByoBlockCfg>> stages;
  std::string downsample = "conv1x1";  // or "" (no shortcut where shapes change)
  std::string stem_type = "3x3";       // "tiered", "7x7", "3x3"
  std::string stem_pool = "maxpool";   // or ""
  int64_t stem_chs = 32;
  int64_t num_features = 0;  // final 1x1 conv width (0: none)
  std::string act = "relu";
  std::string attn_layer;  // "", "se", "eca" (bottleneck blocks)
  double se_rd_ratio = 1.0 / 16;
  SelfAttnSettings self_attn;
  int64_t img_size = 0;     // the fixed input size bottleneck attention is built for (0: none)
  bool bottle_in = false;   // bottleneck width from the input channels
  bool linear_out = false;  // no activation after the residual sum
  int64_t num_classes = 1000;
  int64_t in_chans = 3;
  double drop_rate = 0;
  double drop_path_rate = 0;
  bool zero_init_last = true;
};

// `d` blocks of `types.first`, with `types.second` at the indices timm's interleave_blocks
// picks: `every` as a list, or as an int n: n, 2n + 1, 3n + 2, ... (the last block if none).
std::vector<ByoBlockCfg> interleave_blocks(const std::string& first, const std::string& second,
                                           int64_t d, const std::vector<int64_t>& every,
                                           const ByoBlockCfg& block);
std::vector<ByoBlockCfg> interleave_blocks(const std::string& first, const std::string& second,
                                           int64_t d, int64_t every, const ByoBlockCfg& block);
std::vector<ByoBlockCfg> repeat_block(int64_t d, const ByoBlockCfg& block);

// One residual block of either type.
class ByoBlock : public torch::nn::Module {
 public:
  virtual at::Tensor forward(const at::Tensor& x) = 0;
  virtual double macs(int64_t& h, int64_t& w) const = 0;
  virtual void init_weights(bool zero_init_last) = 0;
};

class ByobNet : public Model {
 public:
  explicit ByobNet(ByoModelCfg cfg);

  at::Tensor forward(const at::Tensor& images) override;
  std::vector<at::Tensor> forward_features(const at::Tensor& images) override;
  at::Tensor forward_head(const at::Tensor& last_level) override;
  std::vector<int64_t> feature_channels() const override;
  double flops(int64_t img_size) const override;
  std::vector<std::string> no_weight_decay_keywords() const override {
    return {"height_rel", "width_rel"};
  }

  const ByoModelCfg& config() const { return cfg_; }

 private:
  at::Tensor run_stem(const at::Tensor& x);

  ByoModelCfg cfg_;
  layers::Activation act_;
  std::vector<layers::ConvNormAct> stem_convs_;
  bool stem_pool_ = false;
  std::vector<std::vector<std::shared_ptr<ByoBlock>>> blocks_;
  std::vector<int64_t> stage_channels_;
  layers::ConvNormAct final_conv_{nullptr};
  int64_t num_features_ = 0;
  layers::Dropout head_drop_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

// timm's HaloNets (halonet_h1, halonet26t, sehalonet33ts, halonet50ts, eca_halonext26ts,
// haloregnetz_b, halo2botnet50ts_256, lamhalobotnet50ts_256) and the paper's H0-H7; defined
// in halonet_zoo.cpp.
void register_halonet_family(ModelRegistry& registry);

}  // namespace vitrine::models
