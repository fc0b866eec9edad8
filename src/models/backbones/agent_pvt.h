// Agent-PVT (Han et al., ECCV 2024): PVT with agent attention in every stage, as the official
// agent_pvt.py (PyramidVisionTransformer with AAAA; agent sr ratios 1 unless set): per stage a
// patch embedding (4x4 then 2x2 convs + LayerNorm), a learned position embedding and pre-norm
// blocks (LayerNorm eps 1e-6, MLP ratios 8, 8, 4, 4); no final norm; mean-pooled head. With
// the official names (patch_embed1.proj, pos_embed1, block1.0.attn.q, block1.0.attn.kv,
// block1.0.attn.an_bias, head). Built for one image size.
#pragma once

#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <memory>
#include <vector>

#include "layers/dropout.h"
#include "models/registry.h"

namespace vitrine::models {

struct AgentPVTConfig {
  int64_t img_size = 224;
  int64_t in_chans = 3;
  int64_t num_classes = 1000;
  std::vector<int64_t> embed_dims{64, 128, 320, 512};
  std::vector<int64_t> num_heads{1, 2, 5, 8};
  std::vector<int64_t> mlp_ratios{8, 8, 4, 4};
  std::vector<int64_t> depths{2, 2, 2, 2};
  std::vector<int64_t> agent_num{9, 16, 49, 49};
  // PVT spatial reduction of the agent blocks' keys/values per stage (official: 1, 1, 1, 1).
  std::vector<int64_t> agent_sr_ratios{1, 1, 1, 1};
  bool qkv_bias = true;
  double drop_rate = 0;
  double attn_drop_rate = 0;
  double drop_path_rate = 0.1;
};

class AgentPVTBlock;

class AgentPVT : public Model {
 public:
  explicit AgentPVT(AgentPVTConfig config);

  at::Tensor forward(const at::Tensor& images) override;
  std::vector<at::Tensor> forward_features(const at::Tensor& images) override;
  at::Tensor forward_head(const at::Tensor& last_level) override;
  std::vector<int64_t> feature_channels() const override { return config_.embed_dims; }
  double flops(int64_t img_size) const override;

 private:
  struct Stage {
    torch::nn::Conv2d proj{nullptr};
    torch::nn::LayerNorm norm{nullptr};
    at::Tensor pos_embed;
    layers::Dropout pos_drop{nullptr};
    std::vector<std::shared_ptr<AgentPVTBlock>> blocks;
    int64_t side = 0;
  };
  AgentPVTConfig config_;
  std::vector<Stage> stages_;
  torch::nn::Linear head_{nullptr};
};

// Agent-PVT-T/S/M/L; defined in agent_pvt.cpp.
void register_agent_pvt_family(ModelRegistry& registry);

}  // namespace vitrine::models
