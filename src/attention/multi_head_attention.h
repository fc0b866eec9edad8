// timm's multi-head self-attention as a function over modules the caller owns: q, k, v from
// one Linear (`qkv`, laid out [3, heads, head dim]), softmax(q k^T * scale) v over the
// second-to-last axis of x [..., T, C], then `proj`. Any leading axes (batch, regions).
#pragma once

#include <torch/nn/modules/linear.h>

#include "layers/dropout.h"

namespace vitrine::attention {

// torch's scaled_dot_product_attention without mask or dropout: softmax(q k^T / sqrt(d)) v
// with d = q.size(-1), over the last two axes of q [..., Tq, d], k [..., Tk, d], v [..., Tk, dv]
// (k and v leading axes equal q's or 1). Computed in slices along the leading axes so that no
// slice's attention matrix exceeds `max_logits` elements: on this class of machine a large
// freshly allocated matrix costs more in page faults than the matmul itself.
at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k,
                                        const at::Tensor& v, int64_t max_logits = int64_t{1} << 18);

at::Tensor multi_head_self_attention(const at::Tensor& x, torch::nn::Linear& qkv,
                                     torch::nn::Linear& proj, int64_t num_heads, double scale,
                                     layers::Dropout& attn_drop, layers::Dropout& proj_drop);

}  // namespace vitrine::attention
