// CPU kernels of neighborhood attention. Every tensor is in canonical form (na_problem.h):
// q, k [B, heads, L0, L1, L2, D], v/out [..., Dv], attn [..., prod(K)], rpb [heads, E0, E1,
// E2] (undefined when absent), lse [B, heads, L0, L1, L2]. Outputs are allocated by the caller.
// Supported dtypes: float and double. float64 tensors are contiguous; float32 q, k, v, out and
// their gradients may be in any row layout — rows contiguous, tokens nested in L0, L1, L2
// order, batch and head strides free, q, k and grad_q in one layout — and are read and written
// in place: e.g. the slices of a qkv projection [B, L0, L1, L2, 3, heads, D] and an output
// [B, L0, L1, L2, heads, Dv] (na_packed.h). attn, rpb and lse are contiguous.
#pragma once

#include <ATen/core/Tensor.h>

#include "attention/ops/na_problem.h"

namespace vitrine::attention::na::cpu {

// attn = q·k (+ rpb) over each window; slots a causal window does not reach hold -inf.
void qk_forward(const Problem& p, const at::Tensor& q, const at::Tensor& k, const at::Tensor& rpb,
                at::Tensor& attn);
// out = sum over the window of attn * v.
void av_forward(const Problem& p, const at::Tensor& attn, const at::Tensor& v, at::Tensor& out);
// Gradients of qk_forward; drpb may be undefined (no bias).
void qk_backward(const Problem& p, const at::Tensor& grad_attn, const at::Tensor& q,
                 const at::Tensor& k, at::Tensor& grad_q, at::Tensor& grad_k, at::Tensor& grad_rpb);
// Gradients of av_forward.
void av_backward(const Problem& p, const at::Tensor& grad_out, const at::Tensor& attn,
                 const at::Tensor& v, at::Tensor& grad_attn, at::Tensor& grad_v);
// out = softmax(q·k*scale + rpb) v without an attention matrix in memory; lse [B, heads,
// L0, L1, L2] receives each query's log-sum-exp for the backward pass.
void fused_forward(const Problem& p, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                   const at::Tensor& rpb, double scale, at::Tensor& out, at::Tensor& lse);
// Gradients of fused_forward, recomputing probabilities from lse (FlashAttention-style).
void fused_backward(const Problem& p, const at::Tensor& grad_out, const at::Tensor& q,
                    const at::Tensor& k, const at::Tensor& v, const at::Tensor& rpb,
                    const at::Tensor& out, const at::Tensor& lse, double scale, at::Tensor& grad_q,
                    at::Tensor& grad_k, at::Tensor& grad_v, at::Tensor& grad_rpb);

}  // namespace vitrine::attention::na::cpu
