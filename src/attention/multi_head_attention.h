// timm's multi-head self-attention as a function over modules the caller owns: q, k, v from
// one Linear (`qkv`, laid out [3, heads, head dim]), softmax(q k^T * scale) v over the
// second-to-last axis of x [..., T, C], then `proj`. Any leading axes (batch, regions).
#pragma once

#include <torch/nn/modules/linear.h>

#include "models/layers/dropout.h"

namespace vitrine::attention {

at::Tensor multi_head_self_attention(const at::Tensor& x, torch::nn::Linear& qkv,
                                     torch::nn::Linear& proj, int64_t num_heads, double scale,
                                     models::Dropout& attn_drop, models::Dropout& proj_drop);

}  // namespace vitrine::attention
