// Neighborhood attention as an nn module, in NAT's layout and with NAT's parameter names
// (`qkv`, `rpb`, `proj`) so official checkpoints load by name. Tokens are channels-last:
// [B, L, C] (1-D), [B, H, W, C] (2-D), [B, D, H, W, C] (3-D).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include <vector>

#include "layers/dropout.h"

namespace vitrine::attention {

struct NeighborhoodAttentionOptions {
  int64_t dim = 0;
  int64_t num_heads = 1;
  std::vector<int64_t> kernel_size{7};  // one entry for every axis, or one per axis
  std::vector<int64_t> dilation{1};
  std::vector<bool> is_causal{false};
  bool rpb = true;  // relative positional bias (not with causal axes)
  bool qkv_bias = true;
  double qk_scale = 0;  // 0 = head_dim^-0.5
  double attn_drop = 0;
  double proj_drop = 0;
};

class NeighborhoodAttentionImpl : public torch::nn::Module {
 public:
  NeighborhoodAttentionImpl(int axes, NeighborhoodAttentionOptions options);

  // Inputs shorter than kernel_size * dilation on an axis are zero-padded up to it and the
  // output cropped back, as NAT does for detection-sized inputs.
  at::Tensor forward(const at::Tensor& x);

  const NeighborhoodAttentionOptions& options() const { return options_; }
  int axes() const { return axes_; }

  torch::nn::Linear qkv{nullptr};
  torch::nn::Linear proj{nullptr};
  at::Tensor rpb;  // [heads, 2K-1, ...] when options.rpb
  layers::Dropout attn_drop{nullptr};
  layers::Dropout proj_drop{nullptr};

 private:
  int axes_;
  NeighborhoodAttentionOptions options_;
  int64_t head_dim_;
  double scale_;
};
TORCH_MODULE(NeighborhoodAttention);

// Named forms, as NATTEN exports them.
inline NeighborhoodAttention NeighborhoodAttention1D(NeighborhoodAttentionOptions o) {
  return NeighborhoodAttention(1, std::move(o));
}
inline NeighborhoodAttention NeighborhoodAttention2D(NeighborhoodAttentionOptions o) {
  return NeighborhoodAttention(2, std::move(o));
}
inline NeighborhoodAttention NeighborhoodAttention3D(NeighborhoodAttentionOptions o) {
  return NeighborhoodAttention(3, std::move(o));
}

}  // namespace vitrine::attention
