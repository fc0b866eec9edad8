// Swin's window attention (Liu et al. 2021; the W-MSA of the official code and of
// Agent-Swin's 'B' blocks): multi-head attention inside each w x w window with a learned
// relative position bias table, and an optional additive mask for shifted windows.
// Parameter names: qkv, proj, relative_position_bias_table (+ buffer relative_position_index).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include "layers/dropout.h"

namespace vitrine::attention {

struct WindowAttentionOptions {
  int64_t dim = 0;
  int64_t num_heads = 1;
  int64_t window_size = 7;
  bool qkv_bias = true;
  double attn_drop = 0;
  double proj_drop = 0;
};

class WindowAttentionImpl : public torch::nn::Module {
 public:
  explicit WindowAttentionImpl(WindowAttentionOptions options);
  // x [windows * B, w*w, dim]; mask [windows, w*w, w*w] (0 / -100) or undefined.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask = at::Tensor());
  // The bias added to every window's logits: [heads, w*w, w*w].
  at::Tensor position_bias() const;

  const WindowAttentionOptions& options() const { return options_; }

  torch::nn::Linear qkv{nullptr}, proj{nullptr};
  at::Tensor relative_position_bias_table;  // [(2w-1)^2, heads]
  at::Tensor relative_position_index;       // [w*w, w*w] int64
  layers::Dropout attn_drop{nullptr}, proj_drop{nullptr};

 private:
  WindowAttentionOptions options_;
  double scale_;
};
TORCH_MODULE(WindowAttention);

}  // namespace vitrine::attention
