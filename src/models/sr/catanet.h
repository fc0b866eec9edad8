// CATANet (Liu et al., "CATANet: Efficient Content-Aware Token Aggregation for Lightweight
// Image Super-Resolution", CVPR 2025) as the official EquationWalker/CATANet code builds it,
// with its parameter names (first_conv, blocks.i.0 = TAB, blocks.i.1 = LRSA, mid_convs.i,
// upconv / upconv1 + upconv2, last_conv) so the released checkpoints load by name.
//
// out = last_conv(upsampler(x + deep(x))) + bilinear_upsample(input), x = first_conv(input);
// deep: 8 blocks of x + mid_conv(LRSA(TAB(x))). LRSA: 4-head self-attention inside
// overlapping ps x ps patches (pre-norm, residual; overlaps averaged), then x + ConvFFN(LN(x)).
// Upsampler: conv3x3 to dim * s^2 + PixelShuffle(s) + LeakyReLU(0.1), twice with s = 2 for x4.
// Inputs are RGB in [0, 1]; the output is not clamped (as the official model).
//
// Training updates each TAB's token centres inside forward (k-means + EMA), so a model must not
// run two training forwards at once (trainer.batch_split 1).
#pragma once

#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <vector>

#include "attention/token_aggregation.h"
#include "layers/conv_ffn.h"
#include "models/registry.h"

namespace vitrine::models {

struct CATANetConfig {
  int64_t upscale = 4;  // 1, 2, 3 or 4
  int64_t in_chans = 3;
  int64_t dim = 40;
  int64_t qk_dim = 36;
  int64_t mlp_dim = 96;
  int64_t heads = 4;
  std::vector<int64_t> patch_size{16, 20, 24, 28, 16, 20, 24, 28};  // one per block
  std::vector<int64_t> n_iters{5, 5, 5, 5, 5, 5, 5, 5};
  std::vector<int64_t> num_tokens{16, 32, 64, 128, 16, 32, 64, 128};
  std::vector<int64_t> group_size{256, 128, 64, 32, 256, 128, 64, 32};
};

// LRSA: attention inside overlapping patches, then a ConvFFN over the map.
class LocalRegionAttentionImpl : public torch::nn::Module {
 public:
  LocalRegionAttentionImpl(int64_t dim, int64_t qk_dim, int64_t mlp_dim, int64_t heads);
  at::Tensor forward(const at::Tensor& x, int64_t patch_size);
  double macs(int64_t h, int64_t w, int64_t patch_size) const;

  torch::nn::LayerNorm attn_norm{nullptr}, ffn_norm{nullptr};  // layer.0.norm, layer.1.norm
  torch::nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr}, proj{nullptr};  // layer.0.fn
  layers::ConvFFN ffn{nullptr};                                                  // layer.1.fn

 private:
  int64_t heads_;
};
TORCH_MODULE(LocalRegionAttention);

class CATANet : public Model {
 public:
  explicit CATANet(CATANetConfig config);

  // LR [B, C, h, w] in [0, 1] -> SR [B, C, h * s, w * s]; h and w at least 28.
  at::Tensor forward(const at::Tensor& images) override;
  // The deep features x + deep(x) [B, dim, h, w] (one level).
  std::vector<at::Tensor> forward_features(const at::Tensor& images) override;
  // Not defined for SR (the reconstruction also needs the input image): a clear error.
  at::Tensor forward_head(const at::Tensor& last_level) override;
  std::vector<int64_t> feature_channels() const override { return {config_.dim}; }
  // FLOPs (multiply-adds) for one img_size x img_size LR input, inference mode.
  double flops(int64_t img_size) const override;
  bool updates_state_in_forward() const override { return true; }

  const CATANetConfig& config() const { return config_; }

 private:
  at::Tensor deep_features(const at::Tensor& shallow);

  CATANetConfig config_;
  torch::nn::Conv2d first_conv_{nullptr}, last_conv_{nullptr};
  torch::nn::Conv2d upconv_{nullptr}, upconv1_{nullptr}, upconv2_{nullptr};
  std::vector<attention::TokenAggregationBlock> tabs_;
  std::vector<LocalRegionAttention> lrsas_;
  std::vector<torch::nn::Conv2d> mid_convs_;
};

// catanet_x2, catanet_x3, catanet_x4 and our catanet_nano; defined in catanet.cpp.
void register_catanet_family(ModelRegistry& registry);

}  // namespace vitrine::models
