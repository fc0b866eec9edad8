// Bottleneck attention (Srinivas et al., "Bottleneck Transformers for Visual Recognition"), as
// timm implements it (layers/bottleneck_attn.py), with its parameter names (`qkv`,
// `pos_embed.height_rel`, `pos_embed.width_rel`) so timm checkpoints load by name.
//
// Global multi-head self-attention over a feature map: one 1x1 conv makes q, k (dim_head_qk per
// head) and v (dim_out / heads per head); logits = q.k * scale plus the factorised relative
// position term of every query against every key (tables of 2H-1 and 2W-1 rows), so the
// module is built for one map size (`height` x `width`; a clear error for any other). Stride 2
// average-pools the output.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/pooling.h>

#include "attention/relative_position_2d.h"

namespace vitrine::attention {

struct BottleneckAttentionOptions {
  int64_t dim = 0;
  int64_t dim_out = 0;            // 0: dim
  int64_t height = 0, width = 0;  // the feature map this module is built for
  int64_t stride = 1;             // 1 or 2 (2x2 average pool after attention)
  int64_t num_heads = 4;
  int64_t dim_head = 0;  // q/k width per head; 0: make_divisible(dim_out * qk_ratio, 8) / heads
  double qk_ratio = 1.0;
  bool qkv_bias = false;
  bool scale_pos_embed = false;  // scale the position term together with q.k
};

class BottleneckAttentionImpl : public torch::nn::Module {
 public:
  explicit BottleneckAttentionImpl(BottleneckAttentionOptions options);

  // [B, dim, height, width] -> [B, dim_out, height / stride, width / stride].
  at::Tensor forward(const at::Tensor& x);
  void reset_parameters();
  // Multiply-adds for one h x w input (the convs, q.k, attn.v and the position logits).
  double macs(int64_t h, int64_t w) const;

  const BottleneckAttentionOptions& options() const { return options_; }
  int64_t dim_head_qk() const { return dim_head_qk_; }
  int64_t dim_head_v() const { return dim_head_v_; }
  double scale() const { return scale_; }

  torch::nn::Conv2d qkv{nullptr};
  RelativePosition2d pos_embed{nullptr};  // the map against itself
  torch::nn::AvgPool2d pool{nullptr};     // set for stride 2

 private:
  BottleneckAttentionOptions options_;
  int64_t dim_head_qk_, dim_head_v_;
  double scale_;
};
TORCH_MODULE(BottleneckAttention);

}  // namespace vitrine::attention
