// DuoFormer (Tang et al.; official code xiaoyatang/duoformer_TCGA, models/model.py,
// multi_vision_transformer.py, multiscale_attn.py, projection_head.py): a ResNet's layer1-4
// features projected to D = 768 (1x1 convs `projection.proj_headsK`), regrouped per 32x32
// image region (a 7x7 grid at 224): layer4 gives 1 token, layer3 4, layer2 16, layer1 64, in
// that order, behind a scale token — 'random' (a learned `cls_token1`) or 'channel' (all four
// layers squeezed to 7x7 by convs, concatenated, and reduced by four conv-BN-ReLU layers,
// `chann_proj_all`) — with a learned scale position embedding (S = 6 / 22 / 86 tokens for
// 2 / 3 / 4 scales). Twelve scale blocks attend only among a region's S tokens; then the
// regions' scale tokens with a class token and `pos_embed` (1, regions + 1, D) pass twelve
// patch blocks; the head reads the normed class token.
//
// Choices where the official code departs from the paper (listed in README.md): the patch
// blocks are full pre-LN blocks (x + ls1(attn(norm1 x)), x + ls2(mlp(norm2 x))) that share
// each block's norms, MLP and LayerScale with its scale pass and use its region attention —
// the official loop applies only bare region attention and never feeds block i's output to
// block i + 1; the unused ViT patch embedding is left out; the grid follows the input size
// (img_size / 32, not a fixed 7x7); the scale attention keeps the official 2/sqrt(D) factor.
// Module names follow the official model (resnet_projector.0/1/4-7, projection,
// chann_proj*, vision_transformer.blocks.i.attn.qkv1, ...), so its checkpoints load by name
// apart from the dropped patch embedding.
#pragma once

#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <memory>
#include <string>
#include <vector>

#include "layers/dropout.h"
#include "models/backbones/resnet.h"
#include "models/registry.h"

namespace vitrine::models {

struct DuoFormerConfig {
  int64_t img_size = 224;
  int64_t in_chans = 3;
  int64_t num_classes = 1000;
  bool resnet18 = false;               // ResNet-18 backbone instead of ResNet-50
  int64_t scales = 4;                  // 2, 3 or 4 backbone levels (from layer4 down)
  std::string scale_token = "random";  // random | channel
  int64_t embed_dim = 768;
  int64_t depth = 12;
  int64_t num_heads = 12;
  double mlp_ratio = 4.0;
  double init_values = 1e-5;  // LayerScale
  double drop_rate = 0.1;
  double attn_drop_rate = 0.1;
  double drop_path_rate = 0.0;
  double scale_attention_scale = -1;  // see ScaleAttentionOptions
  bool freeze_backbone = false;
  // The official model's q_norm / k_norm in every block (ScaleAttentionOptions::
  // unused_qk_norms): on in duoformer_r50_official, so its state dicts load strictly.
  bool official_qk_norms = false;
  // The official MyModel's patch pass instead of ours (on in duoformer_r50_official): block 0's
  // bare region attention (qkv/proj, logits x 2/sqrt(D), no norm, residual or MLP) over the
  // class token and the regions' scale tokens (+ pos_embed), then the last block's bare region
  // attention over that output, whose class token goes to the norm and head. The official loop
  // never feeds block i's output to block i + 1, so blocks 1..depth-2 have no part in it.
  // Needs depth >= 2.
  bool official_forward = false;
};

class DuoFormerBlock;

class DuoFormer : public Model {
 public:
  explicit DuoFormer(DuoFormerConfig config);

  at::Tensor forward(const at::Tensor& images) override;
  // The backbone's layer1-4 maps (what dense heads would use).
  std::vector<at::Tensor> forward_features(const at::Tensor& images) override;
  // Pools a map and applies the head (classification itself reads the class token).
  at::Tensor forward_head(const at::Tensor& last_level) override;
  std::vector<int64_t> feature_channels() const override;
  // Multiply-adds (LayerNorm 5 per element) at the built size; 0 at other sizes.
  double flops(int64_t img_size) const override;
  // The official ViT's patch embedding, which no forward uses (dropped here).
  std::vector<std::string> dropped_checkpoint_prefixes() const override {
    return {"vision_transformer.patch_embed."};
  }

  // Region tokens [B, regions, S, D] before the scale blocks (tests check the grouping).
  at::Tensor region_tokens(const at::Tensor& images);

 private:
  at::Tensor channel_token(const std::vector<at::Tensor>& features);

  DuoFormerConfig config_;
  int64_t grid_ = 7;
  std::shared_ptr<ResNet> backbone_;           // its modules are registered as resnet_projector.*
  std::vector<torch::nn::Conv2d> proj_heads_;  // [k] projects layer k+1; unused levels null
  // Channel scale token (scale_token == "channel").
  torch::nn::Conv2d chann1_conv1_{nullptr}, chann1_conv2_{nullptr}, chann2_conv1_{nullptr};
  torch::nn::Sequential chann_all_{nullptr};
  // vision_transformer.*
  at::Tensor cls_token_, pos_embed_, pos_embed_for_scale_, cls_token1_;
  layers::Dropout pos_drop_{nullptr};
  std::vector<std::shared_ptr<DuoFormerBlock>> blocks_;
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Linear head_{nullptr};
  at::Tensor region_index_[4];  // per level: [regions, tokens per region] flat indices
};

// duoformer_r50 (random scale token), duoformer_r50_channel, duoformer_r18; defined in
// duoformer.cpp.
void register_duoformer_family(ModelRegistry& registry);

}  // namespace vitrine::models
