// GPU tests (ctest label `gpu`): the CUDA ops against the CPU ops over the CPU tests' shape
// grid — forward values and gradients of qk, av and the fused op, float32 tight, float16 and
// bfloat16 loose, float64 (naive kernels) to rounding; the fused tiled kernels at head dims
// 32/64/128. Every test skips with a message where no CUDA device is visible (always so
// with a CPU-only libtorch).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>
#include <torch/cuda.h>

#include <cmath>
#include <string>
#include <vector>

#include "attention/ops/na_functional.h"
#include "support/na_cases.h"

namespace {

namespace att = vitrine::attention;
using at::Tensor;
using vitrine::testing::Case;
using vitrine::testing::expect_close_relative;
using vitrine::testing::random_cases;

#define VITRINE_REQUIRE_GPU()       \
  if (!torch::cuda::is_available()) \
  GTEST_SKIP() << "no CUDA device visible (or this libtorch has no CUDA): GPU test skipped"

struct Inputs {
  Tensor q, k, v, rpb, grad_out, grad_attn;
};

// Random inputs in `dtype` on the CPU (rounded there, so both devices see the same values).
Inputs make_inputs(const Case& c, at::ScalarType dtype, int64_t value_dim) {
  Inputs in;
  in.q = at::randn(c.shape(c.dim)).to(dtype);
  in.k = at::randn(c.shape(c.dim)).to(dtype);
  in.v = at::randn(c.shape(value_dim)).to(dtype);
  if (c.rpb) in.rpb = at::randn(c.rpb_shape()).to(dtype);
  in.grad_out = at::randn(c.shape(value_dim)).to(dtype);
  in.grad_attn = at::randn(c.shape(c.window())).to(dtype);
  return in;
}

c10::optional<Tensor> optional_of(const Tensor& t) {
  return t.defined() ? c10::optional<Tensor>(t) : c10::nullopt;
}

// Forward outputs and input gradients of qk, av and the fused op on `device`. Reduced
// precisions run on the CPU in float32 (the CPU ops upcast the same way).
std::vector<Tensor> run_ops(const Case& c, const Inputs& in, at::Device device,
                            at::ScalarType cpu_type) {
  auto prep = [&](const Tensor& t) {
    if (!t.defined()) return Tensor();
    Tensor x = device.is_cpu() ? t.to(cpu_type) : t.to(device);
    return x.detach().requires_grad_(true);
  };
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.dim));
  std::vector<Tensor> results;
  {
    Tensor q = prep(in.q), k = prep(in.k), rpb = prep(in.rpb);
    Tensor attn = att::na_qk(q, k, optional_of(rpb), c.options());
    Tensor go =
        in.grad_attn.to(attn.device(), attn.scalar_type()).masked_fill(at::isinf(attn).detach(), 0);
    std::vector<Tensor> leaves{q, k};
    if (rpb.defined()) leaves.push_back(rpb);
    auto grads = torch::autograd::grad({attn.masked_fill(at::isinf(attn), 0)}, leaves, {go});
    results.push_back(attn.detach());
    results.insert(results.end(), grads.begin(), grads.end());
  }
  {
    // Attention weights: softmax of the CPU logits, shared by both devices.
    Tensor logits = att::na_qk(in.q.to(at::kFloat), in.k.to(at::kFloat), c10::nullopt, c.options());
    Tensor probs = prep(at::softmax(logits, -1).to(in.q.scalar_type()));
    Tensor v = prep(in.v);
    Tensor out = att::na_av(probs, v, c.options());
    auto grads =
        torch::autograd::grad({out}, {probs, v}, {in.grad_out.to(out.device(), out.scalar_type())});
    results.push_back(out.detach());
    results.insert(results.end(), grads.begin(), grads.end());
  }
  {
    Tensor q = prep(in.q), k = prep(in.k), v = prep(in.v), rpb = prep(in.rpb);
    Tensor out = att::neighborhood_attention(q, k, v, optional_of(rpb), c.options(), scale);
    std::vector<Tensor> leaves{q, k, v};
    if (rpb.defined()) leaves.push_back(rpb);
    auto grads =
        torch::autograd::grad({out}, leaves, {in.grad_out.to(out.device(), out.scalar_type())});
    results.push_back(out.detach());
    results.insert(results.end(), grads.begin(), grads.end());
  }
  return results;
}

void compare_devices(const Case& c, at::ScalarType dtype, double tol, bool same_value_dim) {
  SCOPED_TRACE(c.describe() + " dtype=" + std::string(c10::toString(dtype)));
  const Inputs in = make_inputs(c, dtype, same_value_dim ? c.dim : c.dim + 1);
  const at::ScalarType cpu_type = dtype == at::kDouble ? at::kDouble : at::kFloat;
  const std::vector<Tensor> want = run_ops(c, in, at::kCPU, cpu_type);
  const std::vector<Tensor> got = run_ops(c, in, at::Device(at::kCUDA, 0), cpu_type);
  ASSERT_EQ(got.size(), want.size());
  const char* names_rpb[] = {"qk",    "qk dq", "qk dk",    "qk drpb",  "av",       "av dattn",
                             "av dv", "fused", "fused dq", "fused dk", "fused dv", "fused drpb"};
  const char* names[] = {"qk",    "qk dq", "qk dk",    "av",       "av dattn",
                         "av dv", "fused", "fused dq", "fused dk", "fused dv"};
  for (size_t i = 0; i < got.size(); ++i) {
    const std::string what = c.rpb ? names_rpb[i] : names[i];
    // An rpb gradient sums one term per query (and head dim): its rounding error grows like
    // the square root of their number, also where the exact sum is ~0 (K = 1 makes it exactly
    // 0, and the GPU's 6e-5 of noise then exceeded a bound of 4e-5 relative to 1).
    const bool drpb = what.find("drpb") != std::string::npos;
    expect_close_relative(got[i], want[i], drpb ? tol * 4 : tol, what,
                          drpb ? std::sqrt(static_cast<double>(c.queries())) : 1.0);
    EXPECT_EQ(got[i].scalar_type(), dtype == at::kDouble ? at::kDouble : dtype) << what;
  }
}

}  // namespace

TEST(NaCuda, Float32MatchesTheCpuOps) {
  VITRINE_REQUIRE_GPU();
  for (int axes = 1; axes <= 3; ++axes)
    for (const Case& c : random_cases(axes, axes == 3 ? 12 : 25, 200 + axes))
      compare_devices(c, at::kFloat, 1e-5, false);
}

TEST(NaCuda, Float64MatchesTheCpuOpsToRounding) {
  VITRINE_REQUIRE_GPU();
  for (int axes = 1; axes <= 3; ++axes)
    for (const Case& c : random_cases(axes, 10, 210 + axes))
      compare_devices(c, at::kDouble, 1e-12, false);
}

TEST(NaCuda, HalfAndBfloat16MatchLoosely) {
  VITRINE_REQUIRE_GPU();
  for (int axes = 1; axes <= 3; ++axes)
    for (const Case& c : random_cases(axes, 8, 220 + axes)) {
      compare_devices(c, at::kHalf, 1e-2, false);
      compare_devices(c, at::kBFloat16, 5e-2, false);
    }
}

// Head dims the tiled fused kernels serve, with the value dim equal to the head dim.
TEST(NaCuda, FusedKernelsAtHeadDims32To128) {
  VITRINE_REQUIRE_GPU();
  for (int64_t dim : {32, 64, 128})
    for (int axes = 1; axes <= 3; ++axes)
      for (Case c : random_cases(axes, 6, 230 + axes + static_cast<uint32_t>(dim))) {
        c.dim = dim;
        compare_devices(c, at::kFloat, 1e-5, true);
        compare_devices(c, at::kHalf, 1e-2, true);
        compare_devices(c, at::kBFloat16, 5e-2, true);
      }
}

// NAT-sized problems (56x56, K=7, dilation 1 and 4; 1-D L=4096; 3-D) in float32.
TEST(NaCuda, ModelSizedProblems) {
  VITRINE_REQUIRE_GPU();
  std::vector<Case> cases{
      {{56, 56}, {7, 7}, {1, 1}, {false, false}, true, 2, 4, 32},
      {{56, 56}, {7, 7}, {4, 4}, {false, false}, true, 2, 4, 32},
      {{14, 14}, {7, 7}, {1, 1}, {false, false}, true, 2, 16, 32},
      {{4096}, {7}, {1}, {false}, true, 1, 2, 64},
      {{1024}, {31}, {2}, {true}, false, 1, 2, 128},
      {{8, 16, 16}, {3, 7, 7}, {1, 1, 2}, {false, false, false}, true, 1, 2, 32}};
  for (const Case& c : cases) compare_devices(c, at::kFloat, 1e-5, true);
}

TEST(NaCuda, ErrorsNameTheProblem) {
  VITRINE_REQUIRE_GPU();
  Tensor q = at::randn({1, 2, 10, 12, 32}, at::Device(at::kCUDA, 0));
  att::NaOptions o{{5}, {1}, {false}};
  try {
    att::na2d(q, q.cpu(), q, c10::nullopt, o, 1.0);
    FAIL() << "mixed devices accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("is on cpu but the query is on cuda"), std::string::npos)
        << e.what();
  }
  try {
    att::na2d(q.to(at::kInt), q.to(at::kInt), q.to(at::kInt), c10::nullopt, o, 1.0);
    FAIL() << "integer tensors accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("floating-point"), std::string::npos) << e.what();
  }
}
