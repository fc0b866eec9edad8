// Registration of one backend (CPU, CUDA) of the `vitrine::` neighborhood-attention ops: the
// backend supplies dimension-generic implementations, this header derives the per-dimension
// public ops (naNd_qk, naNd_av, naNd) from them and registers all thirteen kernels.
#pragma once

#include <torch/library.h>

#include <string>
#include <tuple>

#include "attention/ops/na_problem.h"

namespace vitrine::attention::na {

using QkImpl = at::Tensor (*)(const std::string& name, int axes, const at::Tensor& q,
                              const at::Tensor& k, const c10::optional<at::Tensor>& rpb,
                              at::IntArrayRef kernel_size, at::IntArrayRef dilation,
                              const c10::List<bool>& is_causal);
using AvImpl = at::Tensor (*)(const std::string& name, int axes, const at::Tensor& attn,
                              const at::Tensor& v, at::IntArrayRef kernel_size,
                              at::IntArrayRef dilation, const c10::List<bool>& is_causal);
using FusedForwardImpl = std::tuple<at::Tensor, at::Tensor> (*)(
    const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
    const c10::optional<at::Tensor>& rpb, at::IntArrayRef kernel_size, at::IntArrayRef dilation,
    const c10::List<bool>& is_causal, double scale);

using QkBackwardImpl = std::tuple<at::Tensor, at::Tensor, at::Tensor> (*)(
    const at::Tensor& grad_attn, const at::Tensor& q, const at::Tensor& k, bool has_rpb,
    at::IntArrayRef kernel_size, at::IntArrayRef dilation, const c10::List<bool>& is_causal);
using AvBackwardImpl = std::tuple<at::Tensor, at::Tensor> (*)(
    const at::Tensor& grad_out, const at::Tensor& attn, const at::Tensor& v,
    at::IntArrayRef kernel_size, at::IntArrayRef dilation, const c10::List<bool>& is_causal);
using FusedBackwardImpl = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> (*)(
    const at::Tensor& grad_out, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
    const c10::optional<at::Tensor>& rpb, const at::Tensor& out, const at::Tensor& lse,
    at::IntArrayRef kernel_size, at::IntArrayRef dilation, const c10::List<bool>& is_causal,
    double scale);

// One backend's implementations, for tests that call them without the dispatcher.
struct BackendImpls {
  QkImpl qk;
  AvImpl av;
  FusedForwardImpl fused_forward;
  QkBackwardImpl qk_backward;
  AvBackwardImpl av_backward;
  FusedBackwardImpl fused_backward;
};

#if defined(VITRINE_CUDA_OPS_ON_HOST)
// The CUDA op implementations compiled over tests/kernels/host_backend.cpp, with CPU tensors
// standing in for CUDA ones (tests/attention/cuda/na_cuda_ops_on_host_test.cpp).
BackendImpls cuda_impls_on_host();
#endif

namespace backend_detail {

template <QkImpl Qk, int N>
at::Tensor qk(const at::Tensor& q, const at::Tensor& k, const c10::optional<at::Tensor>& rpb,
              at::IntArrayRef kernel_size, at::IntArrayRef dilation,
              const c10::List<bool>& is_causal) {
  return Qk(op_name("_qk", N), N, q, k, rpb, kernel_size, dilation, is_causal);
}

template <AvImpl Av, int N>
at::Tensor av(const at::Tensor& attn, const at::Tensor& v, at::IntArrayRef kernel_size,
              at::IntArrayRef dilation, const c10::List<bool>& is_causal) {
  return Av(op_name("_av", N), N, attn, v, kernel_size, dilation, is_causal);
}

template <FusedForwardImpl Forward, int N>
at::Tensor fused(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                 const c10::optional<at::Tensor>& rpb, at::IntArrayRef kernel_size,
                 at::IntArrayRef dilation, const c10::List<bool>& is_causal, double scale) {
  TORCH_CHECK(q.dim() == N + 3, op_name("", N), ": expected a ", N + 3, "-D query, got shape ",
              q.sizes());
  return std::get<0>(Forward(q, k, v, rpb, kernel_size, dilation, is_causal, scale));
}

}  // namespace backend_detail

template <QkImpl Qk, AvImpl Av, FusedForwardImpl FusedForward>
void register_backend(torch::Library& m, QkBackwardImpl qk_backward, AvBackwardImpl av_backward,
                      FusedBackwardImpl fused_backward) {
  using namespace backend_detail;
  m.impl("na1d_qk", &qk<Qk, 1>);
  m.impl("na2d_qk", &qk<Qk, 2>);
  m.impl("na3d_qk", &qk<Qk, 3>);
  m.impl("na1d_av", &av<Av, 1>);
  m.impl("na2d_av", &av<Av, 2>);
  m.impl("na3d_av", &av<Av, 3>);
  m.impl("na1d", &fused<FusedForward, 1>);
  m.impl("na2d", &fused<FusedForward, 2>);
  m.impl("na3d", &fused<FusedForward, 3>);
  m.impl("na_qk_backward", qk_backward);
  m.impl("na_av_backward", av_backward);
  m.impl("na_fused_forward", FusedForward);
  m.impl("na_fused_backward", fused_backward);
}

}  // namespace vitrine::attention::na
