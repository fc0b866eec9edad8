#include "attention/scale_attention.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cmath>

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
  attn_drop = register_module("attn_drop", models::Dropout(o.attn_drop));
  proj = register_module("proj", linear(o.dim, true));
  proj_drop = register_module("proj_drop", models::Dropout(o.proj_drop));
  qkv1 = register_module("qkv1", linear(3 * o.dim, o.qkv_bias));
  attn_drop1 = register_module("attn_drop1", models::Dropout(o.attn_drop));
  proj1 = register_module("proj1", linear(o.dim, true));
  proj_drop1 = register_module("proj_drop1", models::Dropout(o.proj_drop));
}

at::Tensor ScaleAttentionImpl::attend(const at::Tensor& x, torch::nn::Linear& in,
                                      torch::nn::Linear& out, models::Dropout& drop_attn,
                                      models::Dropout& drop_out, double scale) {
  const int64_t heads = options_.num_heads, c = options_.dim, d = c / heads;
  const int64_t t = x.size(-2);
  std::vector<int64_t> lead(x.sizes().begin(), x.sizes().end() - 2);
  std::vector<int64_t> shape = lead;
  shape.insert(shape.end(), {t, 3, heads, d});
  // [..., T, 3, H, d] -> [3, ..., H, T, d]
  at::Tensor qkv_out = in->forward(x).reshape(shape);
  const int64_t r = qkv_out.dim();  // lead + 4
  std::vector<int64_t> perm{r - 3};
  for (int64_t i = 0; i < r - 4; ++i) perm.push_back(i);
  perm.insert(perm.end(), {r - 2, r - 4, r - 1});
  qkv_out = qkv_out.permute(perm);
  const at::Tensor attn = drop_attn->forward(
      at::softmax(at::matmul(qkv_out[0], qkv_out[1].transpose(-2, -1)) * scale, -1));
  // [..., H, T, d] -> [..., T, H*d]
  at::Tensor y = at::matmul(attn, qkv_out[2]).transpose(-3, -2);
  std::vector<int64_t> merged = lead;
  merged.insert(merged.end(), {t, c});
  return drop_out->forward(out->forward(y.reshape(merged)));
}

at::Tensor ScaleAttentionImpl::forward_scale(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(3) == options_.dim,
              "ScaleAttention: expected [B, regions, "
              "scales, ",
              options_.dim, "], got shape ", x.sizes());
  return attend(x, qkv1, proj1, attn_drop1, proj_drop1, scale_scale_);
}

at::Tensor ScaleAttentionImpl::forward_region(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == options_.dim, "ScaleAttention: expected [B, N, ",
              options_.dim, "], got shape ", x.sizes());
  return attend(x, qkv, proj, attn_drop, proj_drop, region_scale_);
}

}  // namespace vitrine::attention
