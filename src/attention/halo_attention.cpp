#include "attention/halo_attention.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/nn/functional/padding.h>

#include <cmath>

#include "attention/head_widths.h"
#include "layers/weight_init.h"

namespace vitrine::attention {
HaloAttentionImpl::HaloAttentionImpl(HaloAttentionOptions options) : options_(options) {
  HaloAttentionOptions& o = options_;
  if (o.dim_out == 0) o.dim_out = o.dim;
  TORCH_CHECK(o.block_size > 0 && o.halo_size >= 0,
              "HaloAttention: block_size must be positive and halo_size non-negative");
  const HeadWidths widths =
      head_widths("HaloAttention", o.dim, o.dim_out, o.num_heads, o.dim_head, o.qk_ratio, o.stride);
  dim_head_qk_ = widths.qk;
  dim_head_v_ = widths.v;
  scale_ = std::pow(static_cast<double>(dim_head_qk_), -0.5);
  window_ = o.block_size + 2 * o.halo_size;
  bool use_avg_pool = false;
  if (o.stride > 1) {
    use_avg_pool = o.avg_down || o.block_size % o.stride != 0;
    block_stride_ = use_avg_pool ? 1 : o.stride;
  }
  block_size_ds_ = o.block_size / block_stride_;
  q = register_module(
      "q", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.dim, o.num_heads * dim_head_qk_, 1)
                                 .stride(block_stride_)
                                 .bias(o.qkv_bias)));
  kv = register_module(
      "kv", torch::nn::Conv2d(
                torch::nn::Conv2dOptions(o.dim, o.num_heads * (dim_head_qk_ + dim_head_v_), 1)
                    .bias(o.qkv_bias)));
  pos_embed = register_module(
      "pos_embed",
      RelativePosition2d(block_size_ds_, block_size_ds_, window_, window_, dim_head_qk_, scale_));
  if (use_avg_pool)
    pool = register_module("pool", torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions(2).stride(2)));
  reset_parameters();
}

void HaloAttentionImpl::reset_parameters() {
  at::NoGradGuard no_grad;
  const double std = std::pow(static_cast<double>(options_.dim), -0.5);  // fan-in of a 1x1 conv
  layers::trunc_normal_(q->weight, std);
  layers::trunc_normal_(kv->weight, std);
  pos_embed->reset_parameters();
}

at::Tensor HaloAttentionImpl::forward(const at::Tensor& x) {
  const HaloAttentionOptions& o = options_;
  TORCH_CHECK(x.dim() == 4 && x.size(1) == o.dim, "HaloAttention: expected [B, ", o.dim,
              ", H, W], got shape ", x.sizes());
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3), bs = o.block_size;
  TORCH_CHECK(H % bs == 0 && W % bs == 0, "HaloAttention: height ", H, " and width ", W,
              " must be multiples of block_size ", bs,
              " (resize or pad the input; timm's HaloNets need multiples of 8 per stage)");
  const int64_t nh = H / bs, nw = W / bs, blocks = nh * nw, heads = o.num_heads;
  const int64_t bsd = block_size_ds_, dqk = dim_head_qk_, dv = dim_head_v_;

  // Queries: [B * heads, blocks, bsd^2, dqk], channels grouped per head as timm does.
  at::Tensor queries = q->forward(x)
                           .reshape({-1, dqk, nh, bsd, nw, bsd})
                           .permute({0, 1, 3, 5, 2, 4})
                           .reshape({B * heads, dqk, -1, blocks})
                           .transpose(1, 3);
  // Keys/values: the zero-padded map unfolded into window x window tiles at step block.
  namespace F = torch::nn::functional;
  at::Tensor kvs = F::pad(kv->forward(x),
                          F::PadFuncOptions({o.halo_size, o.halo_size, o.halo_size, o.halo_size}));
  kvs = kvs.unfold(2, window_, bs)
            .unfold(3, window_, bs)
            .reshape({B * heads, dqk + dv, blocks, -1})
            .permute({0, 2, 3, 1});
  const at::Tensor keys = kvs.narrow(-1, 0, dqk), values = kvs.narrow(-1, dqk, dv);

  at::Tensor logits = at::matmul(queries, keys.transpose(-1, -2));
  logits = o.scale_pos_embed ? (logits + pos_embed->forward(queries)) * scale_
                             : logits * scale_ + pos_embed->forward(queries);
  at::Tensor out = at::matmul(at::softmax(logits, -1), values).transpose(1, 3);
  // [B*heads, dv, bsd^2, blocks] -> [B, dim_out, H / block_stride, W / block_stride]
  out = out.reshape({-1, bsd, bsd, nh, nw})
            .permute({0, 3, 1, 4, 2})
            .contiguous()
            .view({B, heads * dv, H / block_stride_, W / block_stride_});
  return pool ? pool->forward(out) : out;
}

double HaloAttentionImpl::macs(int64_t h, int64_t w) const {
  const HaloAttentionOptions& o = options_;
  const double qk = static_cast<double>(o.num_heads) * dim_head_qk_;
  const double v = static_cast<double>(o.num_heads) * dim_head_v_;
  const double queries = static_cast<double>(h / block_stride_) * (w / block_stride_);
  const double window = static_cast<double>(window_) * window_;
  return queries * o.dim * qk + static_cast<double>(h) * w * o.dim * (qk + v)  // q, kv convs
         + queries * window * (qk + v)                                         // q.k, attn.v
         + queries * 2.0 * (2 * window_ - 1) * qk;                             // positions
}

}  // namespace vitrine::attention
