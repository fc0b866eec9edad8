// Host entry points of the CUDA neighborhood-attention kernels: raw device pointers, sizes as
// a Geometry (attention/ops/na_geometry.h), a stream; no torch. Tensors are contiguous in the
// flat layouts of na_geometry.h and live on the current device. Every function enqueues its
// work on `stream` and returns the launch status (cudaSuccess or the first error).
//
// Storage types: float32, float16, bfloat16 (accumulating in float32) and float64 (naive
// kernels only, accumulating in float64, for gradchecks). rpb gradients are accumulated in
// float32 (float64 for float64 inputs) in a buffer the callee zeroes.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "na/common/na_geometry.h"

namespace vitrine::cuda {

using attention::na::Geometry;

enum class DType { kFloat32, kFloat16, kBFloat16, kFloat64 };

// ---------------------------------------------------------------- naive (one thread per element)

// attn = q.k (+ rpb) per window slot; -inf where a causal window has no key. rpb may be null.
cudaError_t na_qk(DType dtype, const Geometry& g, const void* q, const void* k, const void* rpb,
                  void* attn, cudaStream_t stream);
// out = sum over the window of attn * v.
cudaError_t na_av(DType dtype, const Geometry& g, const void* attn, const void* v, void* out,
                  cudaStream_t stream);
// Gradients of na_qk: grad_q, grad_k; grad_rpb (may be null) is a float32/float64 buffer of
// heads * bias_size() entries.
cudaError_t na_qk_backward(DType dtype, const Geometry& g, const void* grad_attn, const void* q,
                           const void* k, void* grad_q, void* grad_k, void* grad_rpb,
                           cudaStream_t stream);
// Gradients of na_av: grad_attn (0 where a slot has no key) and grad_v.
cudaError_t na_av_backward(DType dtype, const Geometry& g, const void* grad_out, const void* attn,
                           const void* v, void* grad_attn, void* grad_v, cudaStream_t stream);
// delta[bh, t] = grad_out[t] . out[t] in float32 (the fused backward's softmax term).
cudaError_t na_row_dot(DType dtype, const Geometry& g, const void* grad_out, const void* out,
                       float* delta, cudaStream_t stream);

// ---------------------------------------------------------------- fused (cuda/na_fused_tiled.cuh)

// Whether the fused kernels serve this problem on `device`: float32/16/bf16, head dim 32, 64
// or 128 with value dim equal, and shared memory within the device's per-block limit. The op
// layer runs the naive kernels otherwise.
bool fused_supported(DType dtype, const Geometry& g, int device);

// out = softmax(q.k * scale + rpb) v and the float32 log-sum-exp of each query's logits.
cudaError_t na_fused_forward(DType dtype, const Geometry& g, const void* q, const void* k,
                             const void* v, const void* rpb, float scale, void* out, float* lse,
                             cudaStream_t stream);
// Gradients of na_fused_forward; delta is a float32 workspace of batch*heads*tokens entries;
// grad_rpb (may be null) a float32 buffer of heads * bias_size() entries.
cudaError_t na_fused_backward(DType dtype, const Geometry& g, const void* grad_out, const void* q,
                              const void* k, const void* v, const void* rpb, const void* out,
                              const float* lse, float scale, float* delta, void* grad_q,
                              void* grad_k, void* grad_v, float* grad_rpb, cudaStream_t stream);

// ---------------------------------------------------------------- tensor cores (FNA)

// Whether the tensor-core fused forward (cuda/na_fna_forward.cuh) serves this problem on
// `device`: float16/bfloat16, head dim 32/64/128 equal to the value dim, under 2^31 tokens,
// compute capability 8.0 or newer, its shared memory within the device's per-block limit.
bool fna_supported(DType dtype, const Geometry& g, int device);

// The same contract as na_fused_forward (out and the float32 log-sum-exp the fused backward
// reads), computed on the tensor cores.
cudaError_t na_fna_forward(DType dtype, const Geometry& g, const void* q, const void* k,
                           const void* v, const void* rpb, float scale, void* out, float* lse,
                           cudaStream_t stream);

// Whether the tensor-core fused backward (cuda/na_fna_backward.cuh) serves this problem on
// `device`: as fna_supported(), with the backward's shared memory (which holds the bias
// gradient table when `has_rpb` and the table is small).
bool fna_backward_supported(DType dtype, const Geometry& g, bool has_rpb, int device);

// The same contract as na_fused_backward, computed on the tensor cores; inputs 16-byte
// aligned (whole rows are copied as vectors). Any forward's lse serves: both store the
// natural-log log-sum-exp of each query's logits.
cudaError_t na_fna_backward(DType dtype, const Geometry& g, const void* grad_out, const void* q,
                            const void* k, const void* v, const void* rpb, const void* out,
                            const float* lse, float scale, float* delta, void* grad_q, void* grad_k,
                            void* grad_v, float* grad_rpb, cudaStream_t stream);

}  // namespace vitrine::cuda
