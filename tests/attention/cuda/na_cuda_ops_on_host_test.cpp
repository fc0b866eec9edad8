// The CUDA op layer (src/attention/ops/na_cuda_ops.cpp: validation, canonical layouts, dtype
// handling, the choice between tiled and unfused fused paths, lse and rpb-gradient types)
// run on the CPU: compiled over the host stand-in of the kernels (tests/kernels/host_backend.cpp)
// with CPU tensors playing CUDA tensors, and compared with the CPU ops and their autograd
// in float64, float32, float16 and bfloat16.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <cmath>
#include <string>
#include <vector>

#include "attention/ops/na_backend.h"
#include "attention/ops/na_functional.h"
#include "core/scoped_env.h"
#include "support/na_cases.h"

namespace vitrine::cuda {
extern int64_t host_fna_forward_calls;   // tests/kernels/host_backend.cpp
extern int64_t host_fna_backward_calls;  // tests/kernels/host_backend.cpp
}  // namespace vitrine::cuda

namespace {

namespace att = vitrine::attention;
namespace na = vitrine::attention::na;
using at::Tensor;
using vitrine::testing::Case;
using vitrine::testing::expect_close_relative;
using vitrine::testing::random_cases;

c10::optional<Tensor> optional_of(const Tensor& t) {
  return t.defined() ? c10::optional<Tensor>(t) : c10::nullopt;
}

std::vector<Tensor> grads_of(const Tensor& out, const std::vector<Tensor>& leaves,
                             const Tensor& grad) {
  return torch::autograd::grad({out}, leaves, {grad});
}

void check_case(const Case& c, at::ScalarType dtype, double tol, int64_t value_dim) {
  SCOPED_TRACE(c.describe() + " Dv=" + std::to_string(value_dim) +
               " dtype=" + std::string(c10::toString(dtype)));
  const na::BackendImpls cuda = na::cuda_impls_on_host();
  const int axes = static_cast<int>(c.lengths.size());
  const at::ScalarType wide = dtype == at::kDouble ? at::kDouble : at::kFloat;
  auto make = [&](std::vector<int64_t> shape) { return at::randn(shape).to(dtype); };
  const Tensor q = make(c.shape(c.dim)), k = make(c.shape(c.dim)), v = make(c.shape(value_dim));
  const Tensor rpb = c.rpb ? make(c.rpb_shape()) : Tensor();
  const Tensor grad_out = make(c.shape(value_dim));
  c10::List<bool> causal;
  for (bool flag : c.causal) causal.push_back(flag);
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.dim));
  auto leaf = [&](const Tensor& t) {
    return t.defined() ? t.to(wide).detach().requires_grad_(true) : Tensor();
  };

  // qk and its backward.
  {
    Tensor q_w = leaf(q), k_w = leaf(k), rpb_w = leaf(rpb);
    Tensor want = att::na_qk(q_w, k_w, optional_of(rpb_w), c.options());
    Tensor got = cuda.qk(na::op_name("_qk", axes), axes, q, k, optional_of(rpb), c.kernel,
                         c.dilation, causal);
    EXPECT_EQ(got.scalar_type(), dtype);
    expect_close_relative(got, want.detach(), tol, "qk");
    const Tensor grad_attn = make(c.shape(c.window())).masked_fill(at::isinf(got), 0);
    std::vector<Tensor> leaves{q_w, k_w};
    if (c.rpb) leaves.push_back(rpb_w);
    auto want_grads = grads_of(want.masked_fill(at::isinf(want), 0), leaves, grad_attn.to(wide));
    auto [dq, dk, drpb] = cuda.qk_backward(grad_attn, q, k, c.rpb, c.kernel, c.dilation, causal);
    expect_close_relative(dq, want_grads[0], tol, "qk dq");
    expect_close_relative(dk, want_grads[1], tol, "qk dk");
    if (c.rpb) expect_close_relative(drpb, want_grads[2], tol * 4, "qk drpb");
  }
  // av and its backward, on probabilities computed once.
  {
    const Tensor probs =
        at::softmax(att::na_qk(q.to(wide), k.to(wide), c10::nullopt, c.options()), -1).to(dtype);
    Tensor p_w = leaf(probs), v_w = leaf(v);
    Tensor want = att::na_av(p_w, v_w, c.options());
    Tensor got = cuda.av(na::op_name("_av", axes), axes, probs, v, c.kernel, c.dilation, causal);
    expect_close_relative(got, want.detach(), tol, "av");
    auto want_grads = grads_of(want, {p_w, v_w}, grad_out.to(wide));
    auto [dattn, dv] = cuda.av_backward(grad_out, probs, v, c.kernel, c.dilation, causal);
    const Tensor keyless = at::isinf(att::na_qk(q, k, c10::nullopt, c.options()));
    expect_close_relative(dattn.masked_fill(keyless, 0), want_grads[0].masked_fill(keyless, 0), tol,
                          "av dattn");
    expect_close_relative(dv, want_grads[1], tol, "av dv");
  }
  // The fused op, forward (out, lse) and backward.
  {
    Tensor q_w = leaf(q), k_w = leaf(k), v_w = leaf(v), rpb_w = leaf(rpb);
    Tensor want =
        att::neighborhood_attention(q_w, k_w, v_w, optional_of(rpb_w), c.options(), scale);
    auto [out, lse] =
        cuda.fused_forward(q, k, v, optional_of(rpb), c.kernel, c.dilation, causal, scale);
    EXPECT_EQ(out.scalar_type(), dtype);
    EXPECT_EQ(lse.scalar_type(), wide);
    expect_close_relative(out, want.detach(), tol, "fused out");
    const Tensor want_lse =
        at::logsumexp(att::na_qk(q.to(wide) * scale, k.to(wide),
                                 optional_of(rpb.defined() ? rpb.to(wide) : rpb), c.options()),
                      -1);
    expect_close_relative(lse, want_lse, tol * 4, "fused lse");
    std::vector<Tensor> leaves{q_w, k_w, v_w};
    if (c.rpb) leaves.push_back(rpb_w);
    auto want_grads = grads_of(want, leaves, grad_out.to(wide));
    auto [dq, dk, dv, drpb] = cuda.fused_backward(grad_out, q, k, v, optional_of(rpb), out, lse,
                                                  c.kernel, c.dilation, causal, scale);
    expect_close_relative(dq, want_grads[0], tol * 2, "fused dq");
    expect_close_relative(dk, want_grads[1], tol * 2, "fused dk");
    expect_close_relative(dv, want_grads[2], tol * 2, "fused dv");
    if (c.rpb) expect_close_relative(drpb, want_grads[3], tol * 8, "fused drpb");
  }
}

}  // namespace

// Head dims the tiled kernels do not serve (and value dim != head dim): the naive kernels
// and the unfused fallback of the fused op.
TEST(NaCudaOpsOnHost, NaivePathsMatchTheCpuOps) {
  for (int axes = 1; axes <= 3; ++axes)
    for (const Case& c : random_cases(axes, axes == 3 ? 6 : 10, 300 + axes)) {
      check_case(c, at::kDouble, 1e-10, c.dim + 1);
      check_case(c, at::kFloat, 1e-4, c.dim + 1);
    }
}

TEST(NaCudaOpsOnHost, TiledPathMatchesTheCpuOps) {
  for (int64_t dim : {32, 64})
    for (int axes = 1; axes <= 3; ++axes)
      for (Case c : random_cases(axes, 3, 310 + axes + static_cast<uint32_t>(dim))) {
        c.dim = dim;
        check_case(c, at::kFloat, 1e-4, dim);
        check_case(c, at::kHalf, 1e-2, dim);
        check_case(c, at::kBFloat16, 5e-2, dim);
      }
}

// The tensor-core forward behind VITRINE_NA_CUDA_FORWARD=fna (its CTAs run as fibers on the
// host, host_cta.h), feeding the tiled backward as on the GPU; float32 stays on the tiled path.
TEST(NaCudaOpsOnHost, TensorCoreForwardMatchesTheCpuOps) {
  const vitrine::ScopedEnv choice("VITRINE_NA_CUDA_FORWARD", "fna");
  ASSERT_TRUE(choice.set());
  const int64_t calls_before = vitrine::cuda::host_fna_forward_calls;
  for (int64_t dim : {32, 128})
    for (int axes = 1; axes <= 3; ++axes)
      for (Case c : random_cases(axes, 2, 330 + axes + static_cast<uint32_t>(dim))) {
        c.dim = dim;
        check_case(c, at::kHalf, 1e-2, dim);
        check_case(c, at::kBFloat16, 5e-2, dim);
      }
  // Two dtypes x 2 head dims x 3 axis counts x 2 cases, one forward each.
  EXPECT_EQ(vitrine::cuda::host_fna_forward_calls - calls_before, 24);
}

// A contiguous view 2 bytes into its storage cannot take 16-byte row copies: the op keeps the
// tiled forward for it (same numbers), and takes the tensor cores for an aligned copy.
TEST(NaCudaOpsOnHost, MisalignedInputsStayOnTheTiledForward) {
  const vitrine::ScopedEnv choice("VITRINE_NA_CUDA_FORWARD", "fna");
  ASSERT_TRUE(choice.set());
  const na::BackendImpls cuda = na::cuda_impls_on_host();
  const Case c{{9}, {3}, {1}, {false}, false, 1, 1, 32};
  const int64_t n = 9 * 32;
  const Tensor storage = at::randn({n + 1}).to(at::kHalf);
  const Tensor shifted = storage.narrow(0, 1, n).view(c.shape(32));
  ASSERT_TRUE(shifted.is_contiguous());
  c10::List<bool> causal;
  causal.push_back(false);
  const int64_t before = vitrine::cuda::host_fna_forward_calls;
  auto [out, lse] = cuda.fused_forward(shifted, shifted, shifted, c10::nullopt, c.kernel,
                                       c.dilation, causal, 0.2);
  EXPECT_EQ(vitrine::cuda::host_fna_forward_calls, before);
  auto [out_aligned, lse_aligned] =
      cuda.fused_forward(shifted.clone(), shifted.clone(), shifted.clone(), c10::nullopt, c.kernel,
                         c.dilation, causal, 0.2);
  EXPECT_EQ(vitrine::cuda::host_fna_forward_calls, before + 1);
  EXPECT_TRUE(at::allclose(out.to(at::kFloat), out_aligned.to(at::kFloat), 1e-2, 1e-2));
}

// The tensor-core backward behind VITRINE_NA_CUDA_BACKWARD=fna, after the tensor-core forward
// (a whole training step on the tensor cores), against the CPU ops' autograd over random
// 1-D/2-D/3-D problems with dilation, causal axes and rpb, at every head dim it serves.
TEST(NaCudaOpsOnHost, TensorCoreBackwardMatchesTheCpuOps) {
  const vitrine::ScopedEnv forward("VITRINE_NA_CUDA_FORWARD", "fna");
  const vitrine::ScopedEnv backward("VITRINE_NA_CUDA_BACKWARD", "fna");
  ASSERT_TRUE(forward.set() && backward.set());
  const int64_t calls_before = vitrine::cuda::host_fna_backward_calls;
  int64_t cases = 0;
  for (int64_t dim : {32, 64, 128})
    for (int axes = 1; axes <= 3; ++axes)
      for (Case c : random_cases(axes, 2, 350 + axes + static_cast<uint32_t>(dim))) {
        c.dim = dim;
        check_case(c, at::kHalf, 1e-2, dim);
        check_case(c, at::kBFloat16, 5e-2, dim);
        cases += 2;
      }
  EXPECT_EQ(vitrine::cuda::host_fna_backward_calls - calls_before, cases);
}

// The backward's inputs as views 2 bytes into their storage stay on the tiled backward.
TEST(NaCudaOpsOnHost, MisalignedInputsStayOnTheTiledBackward) {
  const vitrine::ScopedEnv choice("VITRINE_NA_CUDA_BACKWARD", "fna");
  ASSERT_TRUE(choice.set());
  const na::BackendImpls cuda = na::cuda_impls_on_host();
  const Case c{{9}, {3}, {1}, {false}, false, 1, 1, 32};
  const int64_t n = 9 * 32;
  const Tensor storage = at::randn({n + 1}).to(at::kHalf);
  const Tensor shifted = storage.narrow(0, 1, n).view(c.shape(32));
  ASSERT_TRUE(shifted.is_contiguous());
  c10::List<bool> causal;
  causal.push_back(false);
  auto [out, lse] = cuda.fused_forward(shifted.clone(), shifted.clone(), shifted.clone(),
                                       c10::nullopt, c.kernel, c.dilation, causal, 0.2);
  const int64_t before = vitrine::cuda::host_fna_backward_calls;
  auto tiled = cuda.fused_backward(shifted, shifted, shifted, shifted, c10::nullopt, out, lse,
                                   c.kernel, c.dilation, causal, 0.2);
  EXPECT_EQ(vitrine::cuda::host_fna_backward_calls, before);
  const Tensor x = shifted.clone();
  auto tensor_cores =
      cuda.fused_backward(x, x, x, x, c10::nullopt, out, lse, c.kernel, c.dilation, causal, 0.2);
  EXPECT_EQ(vitrine::cuda::host_fna_backward_calls, before + 1);
  EXPECT_TRUE(at::allclose(std::get<0>(tiled).to(at::kFloat),
                           std::get<0>(tensor_cores).to(at::kFloat), 2e-2, 2e-2));
  EXPECT_TRUE(at::allclose(std::get<1>(tiled).to(at::kFloat),
                           std::get<1>(tensor_cores).to(at::kFloat), 2e-2, 2e-2));
}

// Unknown values of either switch are refused with a message that names the variable.
TEST(NaCudaOpsOnHost, UnknownKernelChoiceIsRefusedByName) {
  const na::BackendImpls cuda = na::cuda_impls_on_host();
  const Case c{{9}, {3}, {1}, {false}, false, 1, 1, 32};
  const Tensor x = at::randn(c.shape(32)).to(at::kHalf);
  c10::List<bool> causal;
  causal.push_back(false);
  auto [out, lse] = cuda.fused_forward(x, x, x, c10::nullopt, c.kernel, c.dilation, causal, 1.0);
  for (const std::string name : {"VITRINE_NA_CUDA_FORWARD", "VITRINE_NA_CUDA_BACKWARD"}) {
    SCOPED_TRACE(name);
    const vitrine::ScopedEnv choice(name.c_str(), "fast");
    ASSERT_TRUE(choice.set());
    try {
      if (name == "VITRINE_NA_CUDA_FORWARD")
        cuda.fused_forward(x, x, x, c10::nullopt, c.kernel, c.dilation, causal, 1.0);
      else
        cuda.fused_backward(x, x, x, x, c10::nullopt, out, lse, c.kernel, c.dilation, causal, 1.0);
      ADD_FAILURE() << "an unknown " << name << " was accepted";
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what()).find(name + " must be 'tiled' or 'fna'"), std::string::npos)
          << e.what();
    }
  }
}
