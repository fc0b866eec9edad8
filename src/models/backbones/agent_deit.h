// Agent-DeiT (Han et al., ECCV 2024): DeiT (timm's VisionTransformer: 16x16 patches, class
// token, learned position embedding, pre-norm blocks, LayerNorm eps 1e-6) whose first
// `agent_layers` blocks use agent attention with a class token; as the official
// agent_deit.py, with its parameter names (patch_embed.proj, cls_token, pos_embed,
// blocks.i.attn.an_bias, norm, head). Built for one image size (the biases and position
// embedding have the token grid's size).
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

struct AgentDeiTConfig {
  int64_t img_size = 224;
  int64_t patch_size = 16;
  int64_t in_chans = 3;
  int64_t num_classes = 1000;
  int64_t embed_dim = 192;
  int64_t depth = 12;
  int64_t num_heads = 3;
  double mlp_ratio = 4.0;
  bool qkv_bias = true;
  int64_t agent_layers = 12;  // the first blocks with agent attention
  // Agents per block pair, as the official stage_num map reads them: blocks 0-1 use [0],
  // 2-3 [1], 4-9 [2], 10-11 [3].
  std::vector<int64_t> agent_num{49, 49, 49, 49};
  double drop_rate = 0;
  double attn_drop_rate = 0;
  double drop_path_rate = 0;
};

class AgentDeiTBlock;

class AgentDeiT : public Model {
 public:
  explicit AgentDeiT(AgentDeiTConfig config);

  // Logits from the class token after the final norm.
  at::Tensor forward(const at::Tensor& images) override;
  // One level: the patch tokens after the final norm, [B, D, img/patch, img/patch].
  std::vector<at::Tensor> forward_features(const at::Tensor& images) override;
  // The head on a token map (mean of the tokens); classification uses the class token.
  at::Tensor forward_head(const at::Tensor& last_level) override;
  std::vector<int64_t> feature_channels() const override { return {config_.embed_dim}; }
  double flops(int64_t img_size) const override;
  std::vector<std::string> no_weight_decay_keywords() const override {
    return {"pos_embed", "cls_token"};
  }

 private:
  at::Tensor tokens(const at::Tensor& images);  // all tokens after the final norm

  AgentDeiTConfig config_;
  torch::nn::Conv2d patch_proj_{nullptr};
  at::Tensor cls_token_, pos_embed_;
  layers::Dropout pos_drop_{nullptr};
  std::vector<std::shared_ptr<AgentDeiTBlock>> blocks_;
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Linear head_{nullptr};
};

// Agent-DeiT-T/S/B; defined in agent_deit.cpp.
void register_agent_deit_family(ModelRegistry& registry);

}  // namespace vitrine::models
