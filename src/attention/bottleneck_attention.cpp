#include "attention/bottleneck_attention.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cmath>

#include "attention/head_widths.h"
#include "layers/weight_init.h"

namespace vitrine::attention {

BottleneckAttentionImpl::BottleneckAttentionImpl(BottleneckAttentionOptions options)
    : options_(options) {
  BottleneckAttentionOptions& o = options_;
  if (o.dim_out == 0) o.dim_out = o.dim;
  TORCH_CHECK(o.height > 0 && o.width > 0,
              "BottleneckAttention: needs the feature map size it attends over (height, width); "
              "the model must be built for a fixed input size");
  const HeadWidths widths = head_widths("BottleneckAttention", o.dim, o.dim_out, o.num_heads,
                                        o.dim_head, o.qk_ratio, o.stride);
  dim_head_qk_ = widths.qk;
  dim_head_v_ = widths.v;
  scale_ = std::pow(static_cast<double>(dim_head_qk_), -0.5);
  const int64_t channels = o.num_heads * (2 * dim_head_qk_ + dim_head_v_);
  qkv = register_module(
      "qkv", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.dim, channels, 1).bias(o.qkv_bias)));
  pos_embed = register_module(
      "pos_embed", RelativePosition2d(o.height, o.width, o.height, o.width, dim_head_qk_, scale_));
  if (o.stride == 2)
    pool = register_module("pool", torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions(2).stride(2)));
  reset_parameters();
}

void BottleneckAttentionImpl::reset_parameters() {
  at::NoGradGuard no_grad;
  layers::trunc_normal_(qkv->weight, std::pow(static_cast<double>(options_.dim), -0.5));  // fan-in
  pos_embed->reset_parameters();
}

at::Tensor BottleneckAttentionImpl::forward(const at::Tensor& x) {
  const BottleneckAttentionOptions& o = options_;
  TORCH_CHECK(x.dim() == 4 && x.size(1) == o.dim, "BottleneckAttention: expected [B, ", o.dim,
              ", H, W], got shape ", x.sizes());
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  TORCH_CHECK(H == o.height && W == o.width, "BottleneckAttention: built for a ", o.height, "x",
              o.width, " feature map, got ", H, "x", W,
              " (its relative position tables fix the size: build the model with this img_size)");
  const int64_t heads = o.num_heads, dqk = dim_head_qk_, dv = dim_head_v_;
  // Channels are [q | k | v], each grouped per head (timm's split before the head reshape).
  const at::Tensor y = qkv->forward(x);
  const at::Tensor q = y.narrow(1, 0, heads * dqk).reshape({B * heads, dqk, -1}).transpose(-1, -2);
  const at::Tensor k = y.narrow(1, heads * dqk, heads * dqk).reshape({B * heads, dqk, -1});
  const at::Tensor v =
      y.narrow(1, 2 * heads * dqk, heads * dv).reshape({B * heads, dv, -1}).transpose(-1, -2);
  at::Tensor logits = at::matmul(q, k);
  logits = o.scale_pos_embed ? (logits + pos_embed->forward(q)) * scale_
                             : logits * scale_ + pos_embed->forward(q);
  at::Tensor out =
      at::matmul(at::softmax(logits, -1), v).transpose(-1, -2).reshape({B, heads * dv, H, W});
  return pool ? pool->forward(out) : out;
}

double BottleneckAttentionImpl::macs(int64_t h, int64_t w) const {
  const BottleneckAttentionOptions& o = options_;
  const double n = static_cast<double>(h) * w;
  const double qk = static_cast<double>(o.num_heads) * dim_head_qk_;
  const double v = static_cast<double>(o.num_heads) * dim_head_v_;
  return n * o.dim * (2 * qk + v)                 // qkv conv
         + n * n * (qk + v)                       // q.k, attn.v
         + n * qk * ((2 * h - 1) + (2 * w - 1));  // position logits
}

}  // namespace vitrine::attention
