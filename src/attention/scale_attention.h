// DuoFormer's multi-scale attention (the official MultiScaleAttention of
// xiaoyatang/duoformer_TCGA, models/multiscale_attn.py), with its parameter names:
// * scale attention (`qkv1`, `proj1`): x [B, regions, S, C] — each region's S tokens (its
//   scale token and the features of every backbone scale inside it) attend only to each
//   other, multi-head;
// * region attention (`qkv`, `proj`): x [B, N, C] — plain multi-head attention over the
//   regions' tokens (plus a class token), as timm's Attention.
// The official scale attention scales logits by 2 / sqrt(dim) (the full width, not the head
// width); that is the default here so its checkpoints compute the same function, and
// `scale_attention_scale` = 0 selects the usual 1 / sqrt(head dim). The official region
// attention hard-codes 50 tokens (7x7 regions + class token); here any N works.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include "layers/dropout.h"

namespace vitrine::attention {

struct ScaleAttentionOptions {
  int64_t dim = 0;
  int64_t num_heads = 8;
  bool qkv_bias = false;
  double attn_drop = 0;
  double proj_drop = 0;
  double scale_attention_scale = -1;  // < 0: official 2 / sqrt(dim); 0: 1 / sqrt(head dim)
  // Register `q_norm` and `k_norm` (LayerNorm over the head dim, eps 1e-5) that the forward
  // never applies: the official MultiScaleAttention passes (qkv_bias, attn_drop, proj_drop) to
  // timm's Attention by position, so under timm 0.9.8-1.0.15 attn_drop lands on qk_norm and
  // every block owns these norms, but neither of its forwards calls them. Only for loading
  // official state dicts strictly; the outputs do not change.
  bool unused_qk_norms = false;
};

class ScaleAttentionImpl : public torch::nn::Module {
 public:
  explicit ScaleAttentionImpl(ScaleAttentionOptions options);
  // [B, regions, S, C] -> same: attention among the S tokens of each region.
  at::Tensor forward_scale(const at::Tensor& x);
  // [B, N, C] -> same: attention among all N tokens.
  at::Tensor forward_region(const at::Tensor& x);
  // ... with the logits scaled by `scale` (the official DuoFormer forward uses 2 / sqrt(dim),
  // scale_factor(), on this path too).
  at::Tensor forward_region(const at::Tensor& x, double scale);

  double scale_factor() const { return scale_scale_; }
  double region_factor() const { return region_scale_; }

  torch::nn::Linear qkv{nullptr}, proj{nullptr}, qkv1{nullptr}, proj1{nullptr};
  torch::nn::LayerNorm q_norm{nullptr}, k_norm{nullptr};  // unused_qk_norms only
  layers::Dropout attn_drop{nullptr}, proj_drop{nullptr}, attn_drop1{nullptr}, proj_drop1{nullptr};

 private:
  ScaleAttentionOptions options_;
  double scale_scale_, region_scale_;
};
TORCH_MODULE(ScaleAttention);

}  // namespace vitrine::attention
