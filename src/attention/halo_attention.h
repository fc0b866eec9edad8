// Halo attention (Vaswani et al., "Scaling Local Self-Attention for Parameter Efficient Visual
// Backbones"), as timm implements it (layers/halo_attn.py), with its parameter names (`q`,
// `kv`, `pos_embed.height_rel`, `pos_embed.width_rel`) so timm checkpoints load by name.
//
// The map [B, C, H, W] is cut into block x block query blocks; each attends to the
// (block + 2 halo)^2 window around it in the key/value map zero-padded by `halo` (padding is
// not masked). Logits are q.k * scale plus a factorised relative position term
// q . height_rel[ky - y + win - 1] + q . width_rel[kx - x + win - 1], with (y, x) the query's
// position inside its (possibly strided) block and (ky, kx) the key's inside the window.
// Stride 2 subsamples the queries of each block (q conv with stride 2) when the block size is
// even, otherwise (or with avg_down) attends at full resolution and average-pools.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/pooling.h>

#include "attention/relative_position_2d.h"

namespace vitrine::attention {

struct HaloAttentionOptions {
  int64_t dim = 0;
  int64_t dim_out = 0;  // 0: dim
  int64_t stride = 1;   // 1 or 2
  int64_t num_heads = 8;
  int64_t dim_head = 0;  // q/k width per head; 0: make_divisible(dim_out * qk_ratio, 8) / heads
  int64_t block_size = 8;
  int64_t halo_size = 3;
  double qk_ratio = 1.0;
  bool qkv_bias = false;
  bool avg_down = false;
  bool scale_pos_embed = false;  // scale the position term together with q.k
};

class HaloAttentionImpl : public torch::nn::Module {
 public:
  explicit HaloAttentionImpl(HaloAttentionOptions options);

  // [B, dim, H, W] -> [B, dim_out, H / stride, W / stride]; H and W must be multiples of
  // block_size (a clear error otherwise).
  at::Tensor forward(const at::Tensor& x);
  void reset_parameters();
  // Multiply-adds for one h x w input (the convs, q.k, attn.v and the position logits).
  double macs(int64_t h, int64_t w) const;

  const HaloAttentionOptions& options() const { return options_; }
  int64_t dim_head_qk() const { return dim_head_qk_; }
  int64_t dim_head_v() const { return dim_head_v_; }
  int64_t window() const { return window_; }
  int64_t block_stride() const { return block_stride_; }
  double scale() const { return scale_; }

  torch::nn::Conv2d q{nullptr}, kv{nullptr};
  RelativePosition2d pos_embed{nullptr};  // block queries against their window
  torch::nn::AvgPool2d pool{nullptr};     // set when striding by pooling

 private:
  HaloAttentionOptions options_;
  int64_t dim_head_qk_, dim_head_v_, window_, block_stride_ = 1, block_size_ds_;
  double scale_;
};
TORCH_MODULE(HaloAttention);

}  // namespace vitrine::attention
