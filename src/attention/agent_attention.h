// Agent attention (Han et al., "Agent Attention: On the Integration of Softmax and Linear
// Attention", ECCV 2024), as the official LeapLabTHU/Agent-Attention code writes it for
// Agent-Swin's global-window blocks, with its parameter names (`qkv`, `proj`, `dwc`,
// `an_bias`, `na_bias`, `ah_bias`, `aw_bias`, `ha_bias`, `wa_bias`).
//
// Agents A = adaptive average pool of the queries (as a map) to sqrt(n_a) x sqrt(n_a);
// agent aggregation V_A = softmax(A * scale . K^T + B1) V; agent broadcast
// O = softmax(Q * scale . A^T + B2) V_A; plus a depthwise 3x3 conv of V; then proj.
// B1 = bilinear resize of an_bias (heads, n_a, 7, 7) to the map + ah_bias + aw_bias;
// B2 likewise from na_bias, ha_bias, wa_bias (transposed). The biases have the map's size,
// so the module is built for one map size (`height` x `width`); the official code assumes a
// square map, here any height x width works (the pooled agent grid stays square). With
// cls_token it is Agent-DeiT's variant (official agent_deit.py).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "layers/dropout.h"

namespace vitrine::attention {

struct AgentAttentionOptions {
  int64_t dim = 0;
  int64_t num_heads = 1;
  int64_t height = 0, width = 0;  // the map (global window) size
  int64_t agent_num = 49;         // a square number
  bool qkv_bias = true;
  double attn_drop = 0;
  double proj_drop = 0;
  // Agent-DeiT's form: token 0 is a class token, left out of the agent pooling and the
  // depthwise conv, with its own biases ac_bias (agents -> cls) and ca_bias (cls -> agents).
  bool cls_token = false;
  // Agent-PVT's form: separate `q` (dim -> dim) and `kv` (dim -> 2 dim) projections in place
  // of `qkv`.
  bool separate_qkv = false;
  // PVT's spatial reduction (separate_qkv only): keys and values come from the map reduced by
  // `sr` (a sr x sr conv with stride sr, then LayerNorm), so the agent biases toward keys have
  // the reduced size and V is bilinearly upsampled back before the depthwise conv. The
  // official Agent-PVT configs use 1 (agent_sr_ratios '1111').
  int64_t sr_ratio = 1;
};

class AgentAttentionImpl : public torch::nn::Module {
 public:
  explicit AgentAttentionImpl(AgentAttentionOptions options);
  // x [B, (1 +) height * width, dim] (row-major tokens, the class token first when
  // options.cls_token) -> same shape.
  at::Tensor forward(const at::Tensor& x);

  const AgentAttentionOptions& options() const { return options_; }
  double scale() const { return scale_; }
  int64_t pool_size() const { return pool_size_; }
  // B1 [heads, n_a, (h/sr)*(w/sr)] and B2 [heads, h*w, n_a] as the forward adds them.
  at::Tensor agent_bias() const;
  at::Tensor query_bias() const;

  torch::nn::Linear qkv{nullptr}, proj{nullptr};
  torch::nn::Linear q{nullptr}, kv{nullptr};  // separate_qkv only
  torch::nn::Conv2d sr{nullptr};              // sr_ratio > 1 only
  torch::nn::LayerNorm norm{nullptr};         // sr_ratio > 1 only
  torch::nn::Conv2d dwc{nullptr};
  at::Tensor an_bias, na_bias, ah_bias, aw_bias, ha_bias, wa_bias;
  at::Tensor ac_bias, ca_bias;  // cls_token only
  layers::Dropout attn_drop{nullptr}, proj_drop{nullptr};

 private:
  AgentAttentionOptions options_;
  double scale_;
  int64_t pool_size_;
};
TORCH_MODULE(AgentAttention);

}  // namespace vitrine::attention
