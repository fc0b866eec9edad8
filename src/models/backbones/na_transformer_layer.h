// NAT's transformer layer (NATLayer in nat.py, NATransformerLayer in dinats.py): pre-norm
// neighborhood attention and MLP residual branches with stochastic depth and optional layer
// scale. Parameter names: norm1, attn.{qkv,rpb,proj}, norm2, mlp.{fc1,fc2}, gamma1, gamma2.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>

#include "attention/neighborhood_attention.h"
#include "layers/conv_ffn.h"
#include "layers/drop_path.h"
#include "layers/mlp.h"

namespace vitrine::models {

struct NATLayerOptions {
  int64_t dim = 0;
  int64_t num_heads = 1;
  int64_t kernel_size = 7;
  int64_t dilation = 1;
  double mlp_ratio = 4.0;
  bool qkv_bias = true;
  double qk_scale = 0;  // 0: head_dim^-0.5
  double drop = 0, attn_drop = 0, drop_path = 0;
  double layer_scale = 0;  // 0: none; else gamma1/gamma2 initialised to this value
  // 0: NAT's MLP. k > 0: the convolutional feed-forward (layers::ConvFFN: a depthwise k x k
  // conv beside the hidden activations, as PVTv2/CATANet), still named mlp.* (ours).
  int64_t mlp_dwconv = 0;
  // 0: none. k > 0: x + depthwise k x k conv of x before the attention branch, a conditional
  // position encoding (CPVT's PEG, CMT's local perception unit), parameters cpe.* (ours).
  int64_t cpe = 0;
};

class NATLayerImpl : public torch::nn::Module {
 public:
  explicit NATLayerImpl(const NATLayerOptions& options);
  // input: [B, H, W, C]
  at::Tensor forward(const at::Tensor& input);

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  attention::NeighborhoodAttention attn{nullptr};
  layers::DropPath drop_path{nullptr};
  layers::Mlp mlp{nullptr};           // without mlp_dwconv
  layers::ConvFFN conv_mlp{nullptr};  // with it (registered as "mlp")
  at::Tensor gamma1, gamma2;          // defined with layer scale
  torch::nn::Conv2d cpe{nullptr};     // with NATLayerOptions::cpe
};
TORCH_MODULE(NATLayer);

}  // namespace vitrine::models
