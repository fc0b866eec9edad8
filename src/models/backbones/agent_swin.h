// Agent-Swin (Han et al., ECCV 2024): Swin Transformer whose blocks are agent attention ('A',
// a global window over the stage's map) or Swin window attention ('B', 7x7 windows, shifted
// every other block where the map is larger than a window), as the official
// LeapLabTHU/Agent-Attention classification code builds it, with its parameter names
// (patch_embed.proj, layers.i.blocks.j.attn.an_bias, layers.i.downsample.reduction, norm,
// head) so official checkpoints load by name. Its biases have the map's size, so a model is
// built for one image size (`img_size`, default 224).
#pragma once

#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <memory>
#include <string>
#include <vector>

#include "layers/dropout.h"
#include "models/backbones/nat_stems.h"
#include "models/registry.h"

namespace vitrine::models {

struct AgentSwinConfig {
  int64_t img_size = 224;
  int64_t patch_size = 4;
  int64_t in_chans = 3;
  int64_t num_classes = 1000;
  int64_t embed_dim = 96;
  std::vector<int64_t> depths{2, 2, 6, 2};
  std::vector<int64_t> num_heads{3, 6, 12, 24};
  std::vector<int64_t> agent_num{9, 16, 49, 49};
  // One letter per stage: A (agent), B (window), or M with the count of leading agent blocks
  // appended after the stage letters ("AAMB2": stage 3 starts with 2 agent blocks).
  std::string attn_type = "AAAB";
  int64_t window_size = 56;  // agent blocks' window; 'B' blocks use max(7, window / 8)
  double mlp_ratio = 4.0;
  bool qkv_bias = true;
  double drop_rate = 0;
  double attn_drop_rate = 0;
  double drop_path_rate = 0.2;

  // 'A' or 'B' for block `block` of stage `stage`; ConfigError for a malformed attn_type.
  char block_type(size_t stage, int64_t block) const;
};

class AgentSwinBlock;

class AgentSwin : public Model {
 public:
  explicit AgentSwin(AgentSwinConfig config);

  at::Tensor forward(const at::Tensor& images) override;
  std::vector<at::Tensor> forward_features(const at::Tensor& images) override;
  at::Tensor forward_head(const at::Tensor& last_level) override;
  std::vector<int64_t> feature_channels() const override;
  double flops(int64_t img_size) const override;
  std::vector<std::string> no_weight_decay_keywords() const override {
    return {"relative_position_bias_table"};
  }

  const AgentSwinConfig& config() const { return config_; }

 private:
  AgentSwinConfig config_;
  std::shared_ptr<PatchEmbed> patch_embed_;
  layers::Dropout pos_drop_{nullptr};
  std::vector<std::vector<std::shared_ptr<AgentSwinBlock>>> blocks_;
  std::vector<std::shared_ptr<PatchMerging>> downsamples_;
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Linear head_{nullptr};
};

// Agent-Swin-T/S/B; defined in agent_swin.cpp.
void register_agent_swin_family(ModelRegistry& registry);

}  // namespace vitrine::models
