// NAT (Hassani et al., CVPR 2023), DiNAT and DiNAT_s (Hassani & Shi, 2022): hierarchical
// backbones of neighborhood-attention layers, layer for layer as the official
// SHI-Labs/Neighborhood-Attention-Transformer classification models, with their parameter
// names (patch_embed, levels|layers.i.blocks.j, levels|layers.i.downsample, norm, head) so
// official state dicts load by name.
#pragma once

#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <memory>
#include <vector>

#include "layers/dropout.h"
#include "models/backbones/na_transformer_layer.h"
#include "models/backbones/nat_config.h"
#include "models/backbones/nat_stems.h"
#include "models/registry.h"

namespace vitrine::models {

// One level: `blocks` then, except after the last level, `downsample`.
class NATLevelImpl : public torch::nn::Module {
 public:
  NATLevelImpl(std::vector<NATLayer> layers, std::shared_ptr<Downsampler> downsample);
  // The level's output before downsampling.
  at::Tensor forward_blocks(at::Tensor x);

  torch::nn::ModuleList blocks{nullptr};
  std::vector<NATLayer> layers;
  std::shared_ptr<Downsampler> downsample;  // null for the last level
};
TORCH_MODULE(NATLevel);

class NAT : public Model {
 public:
  explicit NAT(NATConfig config);

  at::Tensor forward(const at::Tensor& images) override;
  std::vector<at::Tensor> forward_features(const at::Tensor& images) override;
  at::Tensor forward_head(const at::Tensor& last_level) override;
  std::vector<int64_t> feature_channels() const override;
  double flops(int64_t img_size) const override;
  std::vector<std::string> no_weight_decay_keywords() const override { return {"rpb"}; }

  const NATConfig& config() const { return config_; }
  int64_t num_features() const { return config_.embed_dim << (config_.depths.size() - 1); }

 private:
  // Runs the backbone; `levels_out` (if given) receives each level's channels-last output
  // before its downsampler. Returns the last level's output, channels-last.
  at::Tensor run_levels(const at::Tensor& images, std::vector<at::Tensor>* levels_out);
  at::Tensor head_from_tokens(const at::Tensor& tokens);
  void init_weights();

  NATConfig config_;
  std::shared_ptr<Stem> patch_embed_;
  layers::Dropout pos_drop_{nullptr};
  std::vector<NATLevel> levels_;
  torch::nn::LayerNorm norm_{nullptr};  // null with out_norms
  torch::nn::Linear head_{nullptr};     // null when num_classes == 0
  std::vector<torch::nn::LayerNorm> out_norms_;
};

// Registers nat_*, dinat_*, dinat_s_* and dinat_nano.
void register_nat_family(ModelRegistry& registry);

}  // namespace vitrine::models
