#include "models/backbones/na_transformer_layer.h"

#include <ATen/ATen.h>

#include "layers/depthwise_conv.h"

namespace vitrine::models {

NATLayerImpl::NATLayerImpl(const NATLayerOptions& o) {
  using torch::nn::LayerNormOptions;
  if (o.cpe > 0)
    cpe = register_module(
        "cpe",
        torch::nn::Conv2d(
            torch::nn::Conv2dOptions(o.dim, o.dim, o.cpe).padding((o.cpe - 1) / 2).groups(o.dim)));
  norm1 = register_module("norm1", torch::nn::LayerNorm(LayerNormOptions({o.dim})));
  attention::NeighborhoodAttentionOptions na;
  na.dim = o.dim;
  na.num_heads = o.num_heads;
  na.kernel_size = {o.kernel_size};
  na.dilation = {o.dilation};
  na.qkv_bias = o.qkv_bias;
  na.qk_scale = o.qk_scale;
  na.attn_drop = o.attn_drop;
  na.proj_drop = o.drop;
  attn = register_module("attn", attention::NeighborhoodAttention2D(na));
  drop_path = register_module("drop_path", layers::DropPath(o.drop_path));
  norm2 = register_module("norm2", torch::nn::LayerNorm(LayerNormOptions({o.dim})));
  const auto hidden = static_cast<int64_t>(static_cast<double>(o.dim) * o.mlp_ratio);
  if (o.mlp_dwconv > 0)
    conv_mlp = register_module("mlp", layers::ConvFFN(o.dim, hidden, o.mlp_dwconv));
  else
    mlp = register_module("mlp", layers::Mlp(o.dim, hidden, o.dim, o.drop));
  if (o.layer_scale > 0) {
    gamma1 = register_parameter("gamma1", at::full({o.dim}, o.layer_scale));
    gamma2 = register_parameter("gamma2", at::full({o.dim}, o.layer_scale));
  }
}

at::Tensor NATLayerImpl::forward(const at::Tensor& input) {
  const at::Tensor x =
      cpe ? input + layers::depthwise_conv2d_nhwc(input, cpe->weight, cpe->bias) : input;
  at::Tensor branch = attn(norm1(x));
  if (gamma1.defined()) branch = gamma1 * branch;
  at::Tensor y = x + drop_path(branch);
  if (conv_mlp) {
    const int64_t B = y.size(0), H = y.size(1), W = y.size(2), C = y.size(3);
    branch = conv_mlp->forward(norm2(y).reshape({B, H * W, C}), H, W).view({B, H, W, C});
  } else {
    branch = mlp(norm2(y));
  }
  if (gamma2.defined()) branch = gamma2 * branch;
  return y + drop_path(branch);
}

}  // namespace vitrine::models
