#include "attention/scale_attention.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cmath>

#include "attention/multi_head_attention.h"

namespace vitrine::attention {

ScaleAttentionImpl::ScaleAttentionImpl(ScaleAttentionOptions o) : options_(o) {
  TORCH_CHECK(o.dim > 0 && o.num_heads > 0 && o.dim % o.num_heads == 0, "ScaleAttention: dim ",
              o.dim, " must be a positive multiple of num_heads ", o.num_heads);
  const double head = static_cast<double>(o.dim / o.num_heads);
  region_scale_ = std::pow(head, -0.5);
  scale_scale_ = o.scale_attention_scale < 0    ? 2.0 * std::pow(static_cast<double>(o.dim), -0.5)
                 : o.scale_attention_scale == 0 ? region_scale_
                                                : o.scale_attention_scale;
  auto linear = [&](int64_t out, bool bias) {
    return torch::nn::Linear(torch::nn::LinearOptions(o.dim, out).bias(bias));
  };
  // Registration order follows the official module (timm's Attention, then the scale parts).
  qkv = register_module("qkv", linear(3 * o.dim, o.qkv_bias));
  if (o.unused_qk_norms) {
    const int64_t head_dim = o.dim / o.num_heads;
    q_norm =
        register_module("q_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({head_dim})));
    k_norm =
        register_module("k_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({head_dim})));
  }
  attn_drop = register_module("attn_drop", layers::Dropout(o.attn_drop));
  proj = register_module("proj", linear(o.dim, true));
  proj_drop = register_module("proj_drop", layers::Dropout(o.proj_drop));
  qkv1 = register_module("qkv1", linear(3 * o.dim, o.qkv_bias));
  attn_drop1 = register_module("attn_drop1", layers::Dropout(o.attn_drop));
  proj1 = register_module("proj1", linear(o.dim, true));
  proj_drop1 = register_module("proj_drop1", layers::Dropout(o.proj_drop));
}

at::Tensor ScaleAttentionImpl::forward_scale(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(3) == options_.dim,
              "ScaleAttention: expected [B, regions, "
              "scales, ",
              options_.dim, "], got shape ", x.sizes());
  return multi_head_self_attention(x, qkv1, proj1, options_.num_heads, scale_scale_, attn_drop1,
                                   proj_drop1);
}

at::Tensor ScaleAttentionImpl::forward_region(const at::Tensor& x) {
  return forward_region(x, region_scale_);
}

at::Tensor ScaleAttentionImpl::forward_region(const at::Tensor& x, double scale) {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == options_.dim, "ScaleAttention: expected [B, N, ",
              options_.dim, "], got shape ", x.sizes());
  return multi_head_self_attention(x, qkv, proj, options_.num_heads, scale, attn_drop, proj_drop);
}

}  // namespace vitrine::attention
