// The CUDA implementations of the `vitrine::` neighborhood-attention ops: the same schemas
// and validation as the CPU ones (na_ops.cpp), kernels from cuda/ on the current stream.
// Linked into the ops library only when libtorch has CUDA; compiled (not linked) whenever
// nvcc is found, so CI catches its errors on CPU-only machines too.
//
// Dtypes: float32, float16 and bfloat16 run in their own type with float32 accumulation;
// float64 runs the naive kernels in float64. The fused op uses the tiled kernels where
// cuda::fused_supported() says so (head dim 32/64/128), and otherwise composes naive qk,
// softmax and av in float32 (float64) — the same numbers, more memory. Its float16/bfloat16
// forward and backward can run on the tensor cores instead (VITRINE_NA_CUDA_FORWARD=fna,
// VITRINE_NA_CUDA_BACKWARD=fna).
#include <ATen/ATen.h>
#include <torch/library.h>
#if !defined(VITRINE_CUDA_OPS_ON_HOST)
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <tuple>

#include "attention/ops/na_backend.h"
#include "attention/ops/na_problem.h"
#include "na/cuda/na_kernels.h"

namespace vitrine::attention::na {
namespace {

using at::IntArrayRef;
using at::Tensor;
using c10::optional;
using BoolList = c10::List<bool>;

cuda::DType kernel_type(const Problem& p) {
  switch (p.dtype) {
    case at::kFloat: return cuda::DType::kFloat32;
    case at::kHalf: return cuda::DType::kFloat16;
    case at::kBFloat16: return cuda::DType::kBFloat16;
    case at::kDouble: return cuda::DType::kFloat64;
    default: break;
  }
  TORCH_CHECK(false, p.op, ": CUDA kernels support float32, float16, bfloat16 and float64, got ",
              p.dtype);
  return cuda::DType::kFloat32;  // not reached
}

// Accumulation type of rpb gradients and of the unfused fallback.
at::ScalarType accumulate_type(const Problem& p) {
  return p.dtype == at::kDouble ? at::kDouble : at::kFloat;
}

void check(cudaError_t status, const Problem& p, const char* kernel) {
  TORCH_CHECK(status == cudaSuccess, p.op, ": CUDA kernel ", kernel,
              " failed: ", cudaGetErrorString(status));
}

#if defined(VITRINE_CUDA_OPS_ON_HOST)
// Test build: the host stand-in kernels work on host memory, CPU tensors play CUDA tensors.
struct DeviceScope {
  explicit DeviceScope(const at::Device&) {}
};
cudaStream_t stream_of(const Problem&) {
  return nullptr;
}
#else
using DeviceScope = c10::cuda::CUDAGuard;
cudaStream_t stream_of(const Problem& p) {
  return c10::cuda::getCurrentCUDAStream(p.device.index()).stream();
}
#endif

Tensor bias_of(const Problem& p, const optional<Tensor>& rpb) {
  return rpb && rpb->defined() ? canonical_rpb(p, *rpb) : Tensor();
}

const void* data_or_null(const Tensor& t) {
  return t.defined() ? t.data_ptr() : nullptr;
}

Tensor finish(const Problem& p, const Tensor& t, int64_t last) {
  return t.view(user_shape(p, last));
}

// ---------------------------------------------------------------- naive building blocks
// Canonical, contiguous tensors of one dtype in and out; `p.dtype` is the dtype they have.

Tensor run_qk(const Problem& p, const Tensor& q, const Tensor& k, const Tensor& rpb) {
  Tensor attn = at::empty(
      {p.batch, p.heads, p.length[0], p.length[1], p.length[2], p.window_size()}, q.options());
  Geometry g = geometry(p);
  g.dim = q.size(-1);
  check(cuda::na_qk(kernel_type(p), g, q.data_ptr(), k.data_ptr(), data_or_null(rpb),
                    attn.data_ptr(), stream_of(p)),
        p, "qk");
  return attn;
}

Tensor run_av(const Problem& p, const Tensor& attn, const Tensor& v) {
  Tensor out = at::empty_like(v);
  Geometry g = geometry(p);
  g.value_dim = v.size(-1);
  check(cuda::na_av(kernel_type(p), g, attn.data_ptr(), v.data_ptr(), out.data_ptr(), stream_of(p)),
        p, "av");
  return out;
}

// dq, dk and (when has_rpb) drpb [heads, E0, E1, E2] in the accumulation type.
std::tuple<Tensor, Tensor, Tensor> run_qk_backward(const Problem& p, const Tensor& grad_attn,
                                                   const Tensor& q, const Tensor& k, bool has_rpb) {
  Tensor dq = at::empty_like(q), dk = at::empty_like(k);
  Tensor drpb = has_rpb ? at::empty({p.heads, p.bias_extent(0), p.bias_extent(1), p.bias_extent(2)},
                                    q.options().dtype(accumulate_type(p)))
                        : Tensor();
  Geometry g = geometry(p);
  g.dim = q.size(-1);
  check(cuda::na_qk_backward(kernel_type(p), g, grad_attn.data_ptr(), q.data_ptr(), k.data_ptr(),
                             dq.data_ptr(), dk.data_ptr(), has_rpb ? drpb.data_ptr() : nullptr,
                             stream_of(p)),
        p, "qk_backward");
  return {dq, dk, drpb};
}

std::tuple<Tensor, Tensor> run_av_backward(const Problem& p, const Tensor& grad_out,
                                           const Tensor& attn, const Tensor& v) {
  Tensor dattn = at::empty_like(attn), dv = at::empty_like(v);
  Geometry g = geometry(p);
  g.value_dim = v.size(-1);
  check(cuda::na_av_backward(kernel_type(p), g, grad_out.data_ptr(), attn.data_ptr(), v.data_ptr(),
                             dattn.data_ptr(), dv.data_ptr(), stream_of(p)),
        p, "av_backward");
  return {dattn, dv};
}

// ---------------------------------------------------------------- public ops

Tensor qk_cuda(const std::string& name, int axes, const Tensor& q, const Tensor& k,
               const optional<Tensor>& rpb, IntArrayRef kernel_size, IntArrayRef dilation,
               const BoolList& is_causal) {
  const Problem p = describe_qk(name, axes, q, k, rpb, kernel_size, dilation, is_causal);
  const DeviceScope guard(p.device);
  return finish(p, run_qk(p, canonical(p, q), canonical(p, k), bias_of(p, rpb)), p.window_size());
}

Tensor av_cuda(const std::string& name, int axes, const Tensor& attn, const Tensor& v,
               IntArrayRef kernel_size, IntArrayRef dilation, const BoolList& is_causal) {
  const Problem p = describe_av(name, axes, attn, v, kernel_size, dilation, is_causal);
  const DeviceScope guard(p.device);
  return finish(p, run_av(p, canonical(p, attn), canonical(p, v)), v.size(-1));
}

// Whether the tiled fused kernels serve `p`.
bool use_fused_kernels(const Problem& p) {
  return p.dtype != at::kDouble &&
         cuda::fused_supported(kernel_type(p), geometry(p), p.device.index());
}

// Whether the float16/bfloat16 fused kernels of one direction run on the tensor cores, from
// the environment variable `name` (VITRINE_NA_CUDA_FORWARD, VITRINE_NA_CUDA_BACKWARD): "tiled"
// (the default: the SIMT kernels of na_fused_tiled.cuh) or "fna" (na_fna_forward.cuh,
// na_fna_backward.cuh). Read on every call, so a process can compare both; the defaults change
// once the GPU benchmarks have spoken.
bool tensor_cores_chosen(const char* name) {
  const char* env = std::getenv(name);
  const std::string choice = env == nullptr ? "" : env;
  TORCH_CHECK(choice.empty() || choice == "tiled" || choice == "fna", name,
              " must be 'tiled' or 'fna', got '", choice, "'");
  return choice == "fna";
}

// The tensor-core kernels copy rows in 16-byte vectors: views at odd offsets stay tiled.
bool aligned(std::initializer_list<const Tensor*> tensors) {
  for (const Tensor* t : tensors)
    if (reinterpret_cast<uintptr_t>(t->data_ptr()) % 16 != 0) return false;
  return true;
}

// Problem `p` recast to the accumulation type, for the unfused fallback.
Problem widened(Problem p) {
  p.dtype = accumulate_type(p);
  return p;
}

std::tuple<Tensor, Tensor> fused_forward_cuda(const Tensor& q, const Tensor& k, const Tensor& v,
                                              const optional<Tensor>& rpb, IntArrayRef kernel_size,
                                              IntArrayRef dilation, const BoolList& is_causal,
                                              double scale) {
  const int axes = static_cast<int>(q.dim()) - 3;
  const Problem p =
      describe_fused(op_name("", axes), axes, q, k, v, rpb, kernel_size, dilation, is_causal);
  const DeviceScope guard(p.device);
  std::vector<int64_t> lse_shape = user_shape(p, 1);
  lse_shape.pop_back();
  if (use_fused_kernels(p)) {
    const Tensor q_c = canonical(p, q), k_c = canonical(p, k), v_c = canonical(p, v);
    const Tensor bias = bias_of(p, rpb);
    Tensor out = at::empty_like(v_c);
    Tensor lse = at::empty(lse_shape, q.options().dtype(at::kFloat));
    const bool fna = tensor_cores_chosen("VITRINE_NA_CUDA_FORWARD") &&
                     cuda::fna_supported(kernel_type(p), geometry(p), p.device.index()) &&
                     aligned({&q_c, &k_c, &v_c});
    auto* forward = fna ? &cuda::na_fna_forward : &cuda::na_fused_forward;
    check(forward(kernel_type(p), geometry(p), q_c.data_ptr(), k_c.data_ptr(), v_c.data_ptr(),
                  data_or_null(bias), static_cast<float>(scale), out.data_ptr(),
                  lse.data_ptr<float>(), stream_of(p)),
          p, "fused_forward");
    return {finish(p, out, p.value_dim), lse};
  }
  // Unfused in the accumulation type: logits, log-sum-exp, probabilities, av.
  const Problem w = widened(p);
  const at::ScalarType t = w.dtype;
  Tensor logits = run_qk(w, canonical(p, q.to(t) * scale), canonical(p, k.to(t)),
                         rpb && rpb->defined() ? canonical_rpb(p, rpb->to(t)) : Tensor());
  Tensor lse = at::logsumexp(logits, -1);
  Tensor out = run_av(w, at::exp(logits - lse.unsqueeze(-1)).contiguous(), canonical(p, v.to(t)));
  return {finish(p, out, p.value_dim).to(p.dtype), lse.view(lse_shape)};
}

std::tuple<Tensor, Tensor, Tensor> qk_backward_cuda(const Tensor& grad_attn, const Tensor& q,
                                                    const Tensor& k, bool has_rpb,
                                                    IntArrayRef kernel_size, IntArrayRef dilation,
                                                    const BoolList& is_causal) {
  const int axes = static_cast<int>(q.dim()) - 3;
  const Problem p =
      describe(op_name("_qk_backward", axes), axes, q, kernel_size, dilation, is_causal);
  check_attention(p, grad_attn);
  const DeviceScope guard(p.device);
  auto [dq, dk, drpb] =
      run_qk_backward(p, canonical(p, grad_attn), canonical(p, q), canonical(p, k), has_rpb);
  return {finish(p, dq, p.dim), finish(p, dk, p.dim),
          has_rpb ? drpb.view(rpb_shape(p)).to(p.dtype) : at::zeros({0}, q.options())};
}

std::tuple<Tensor, Tensor> av_backward_cuda(const Tensor& grad_out, const Tensor& attn,
                                            const Tensor& v, IntArrayRef kernel_size,
                                            IntArrayRef dilation, const BoolList& is_causal) {
  const int axes = static_cast<int>(attn.dim()) - 3;
  const Problem p =
      describe_av(op_name("_av_backward", axes), axes, attn, v, kernel_size, dilation, is_causal);
  const DeviceScope guard(p.device);
  auto [dattn, dv] =
      run_av_backward(p, canonical(p, grad_out), canonical(p, attn), canonical(p, v));
  return {finish(p, dattn, p.window_size()), finish(p, dv, p.value_dim)};
}

std::tuple<Tensor, Tensor, Tensor, Tensor> fused_backward_cuda(
    const Tensor& grad_out, const Tensor& q, const Tensor& k, const Tensor& v,
    const optional<Tensor>& rpb, const Tensor& out, const Tensor& lse, IntArrayRef kernel_size,
    IntArrayRef dilation, const BoolList& is_causal, double scale) {
  const int axes = static_cast<int>(q.dim()) - 3;
  const Problem p = describe_fused(op_name("_backward", axes), axes, q, k, v, rpb, kernel_size,
                                   dilation, is_causal);
  const DeviceScope guard(p.device);
  const bool has_rpb = rpb && rpb->defined();
  const Tensor lse_c =
      lse.reshape({p.batch, p.heads, p.length[0], p.length[1], p.length[2]}).contiguous();
  if (use_fused_kernels(p) && lse.scalar_type() == at::kFloat) {
    const Tensor q_c = canonical(p, q), k_c = canonical(p, k), v_c = canonical(p, v);
    const Tensor go = canonical(p, grad_out), o = canonical(p, out), bias = bias_of(p, rpb);
    Tensor dq = at::empty_like(q_c), dk = at::empty_like(k_c), dv = at::empty_like(v_c);
    Tensor delta = at::empty(lse_c.sizes(), lse_c.options());
    Tensor drpb = has_rpb ? at::empty(rpb_shape(p), lse_c.options()) : Tensor();
    const bool fna =
        tensor_cores_chosen("VITRINE_NA_CUDA_BACKWARD") &&
        cuda::fna_backward_supported(kernel_type(p), geometry(p), has_rpb, p.device.index()) &&
        aligned({&q_c, &k_c, &v_c, &go});
    auto* backward = fna ? &cuda::na_fna_backward : &cuda::na_fused_backward;
    check(backward(kernel_type(p), geometry(p), go.data_ptr(), q_c.data_ptr(), k_c.data_ptr(),
                   v_c.data_ptr(), data_or_null(bias), o.data_ptr(), lse_c.data_ptr<float>(),
                   static_cast<float>(scale), delta.data_ptr<float>(), dq.data_ptr(), dk.data_ptr(),
                   dv.data_ptr(), has_rpb ? drpb.data_ptr<float>() : nullptr, stream_of(p)),
          p, "fused_backward");
    return {finish(p, dq, p.dim), finish(p, dk, p.dim), finish(p, dv, p.value_dim),
            has_rpb ? drpb.to(p.dtype) : at::zeros({0}, q.options())};
  }
  // Unfused in the accumulation type (FlashAttention's recomputation, step by step).
  const Problem w = widened(p);
  const at::ScalarType t = w.dtype;
  const Tensor q_t = canonical(p, q.to(t)), k_t = canonical(p, k.to(t)),
               v_t = canonical(p, v.to(t));
  const Tensor go = canonical(p, grad_out.to(t));
  Tensor logits =
      run_qk(w, (q_t * scale).contiguous(), k_t, has_rpb ? canonical_rpb(p, rpb->to(t)) : Tensor());
  Tensor probs = at::exp(logits - lse_c.to(t).unsqueeze(-1)).contiguous();
  auto [dprobs, dv] = run_av_backward(w, go, probs, v_t);
  Tensor delta = (go * canonical(p, out.to(t))).sum(-1, /*keepdim=*/true);
  Tensor dlogits = (probs * (dprobs - delta)).contiguous();
  auto [dq, dk, drpb] = run_qk_backward(w, dlogits, q_t, k_t, has_rpb);
  return {finish(p, dq * scale, p.dim).to(p.dtype), finish(p, dk * scale, p.dim).to(p.dtype),
          finish(p, dv, p.value_dim).to(p.dtype),
          has_rpb ? drpb.view(rpb_shape(p)).to(p.dtype) : at::zeros({0}, q.options())};
}

}  // namespace

#if defined(VITRINE_CUDA_OPS_ON_HOST)
BackendImpls cuda_impls_on_host() {
  return {&qk_cuda,          &av_cuda,          &fused_forward_cuda,
          &qk_backward_cuda, &av_backward_cuda, &fused_backward_cuda};
}
#else
TORCH_LIBRARY_IMPL(vitrine, CUDA, m) {
  register_backend<&qk_cuda, &av_cuda, &fused_forward_cuda>(m, &qk_backward_cuda, &av_backward_cuda,
                                                            &fused_backward_cuda);
}

#endif

}  // namespace vitrine::attention::na
