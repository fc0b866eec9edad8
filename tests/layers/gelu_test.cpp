// layers::gelu (vitrine::gelu and its backward) against the exact GELU computed in float64
// from std::erfc (the independent reference), by float64 gradcheck, on non-contiguous inputs,
// and through the fallbacks. ctest runs this file twice: as built for this CPU, and with
// VITRINE_CPU_ISA=baseline (the portable float build; test name suffix _portable).
#include "layers/gelu.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <cmath>
#include <limits>
#include <vector>

#include "support/finite_differences.h"

namespace vitrine::layers {
namespace {

using at::Tensor;

// x * Phi(x) and its derivative Phi(x) + x phi(x), in float64 from std::erfc / std::exp.
Tensor exact_gelu(const Tensor& x) {
  const Tensor d = x.to(at::kDouble).contiguous();
  Tensor out = at::empty_like(d);
  for (int64_t i = 0; i < d.numel(); ++i) {
    const double v = d.data_ptr<double>()[i];
    out.data_ptr<double>()[i] = v * 0.5 * std::erfc(-v / std::sqrt(2.0));
  }
  return out;
}

Tensor exact_derivative(const Tensor& x) {
  const Tensor d = x.to(at::kDouble).contiguous();
  Tensor out = at::empty_like(d);
  for (int64_t i = 0; i < d.numel(); ++i) {
    const double v = d.data_ptr<double>()[i];
    out.data_ptr<double>()[i] =
        0.5 * std::erfc(-v / std::sqrt(2.0)) + v * std::exp(-0.5 * v * v) / std::sqrt(2 * M_PI);
  }
  return out;
}

// Activations as a network makes them, the far tails, and the special points.
Tensor float_inputs() {
  torch::manual_seed(0);
  std::vector<Tensor> parts{
      at::randn({4099}), at::randn({2000}) * 4, at::linspace(-20, 20, 4001),
      at::tensor({0.0f, -0.0f, 1e-30f, -1e-30f, 1e-3f, -1e-3f, 50.0f, -50.0f, 1e6f, -1e6f})};
  return at::cat(parts);
}

TEST(Gelu, FloatValuesAndGradientsMatchTheExactGeluInFloat64) {
  const Tensor x = float_inputs().requires_grad_(true);
  const Tensor y = layers::gelu(x);
  ASSERT_EQ(y.scalar_type(), at::kFloat);
  const Tensor want = exact_gelu(x.detach());
  // Float rounding of the result: ~1 ulp of the larger of |y| and 1 (the GELU of x ~ 1 is
  // computed from Phi ~ 0.84 with a 1.5e-7 erfc bound).
  const Tensor error = (y.detach().to(at::kDouble) - want).abs();
  const Tensor bound = 5e-7 * at::clamp_min(want.abs(), 1.0);
  EXPECT_TRUE((error <= bound).all().item<bool>())
      << "worst at x = " << x[(error - bound).argmax()].item<float>() << ": error "
      << error.max().item<double>();

  const Tensor upstream = at::randn_like(y);
  const Tensor grad = torch::autograd::grad({y}, {x}, {upstream})[0];
  const Tensor want_grad = exact_derivative(x.detach()) * upstream.to(at::kDouble);
  const Tensor grad_error = (grad.to(at::kDouble) - want_grad).abs();
  const Tensor grad_bound = 5e-7 * at::clamp_min(want_grad.abs(), upstream.abs().to(at::kDouble));
  EXPECT_TRUE((grad_error <= grad_bound).all().item<bool>())
      << "worst at x = " << x[(grad_error - grad_bound).argmax()].item<float>() << ": error "
      << grad_error.max().item<double>();
}

// The tails where Phi underflows: exactly 0 * x on the far left (no NaN from inf or 0 * inf
// inside), x on the far right, and the sign of zero kept.
TEST(Gelu, TailsAndSpecialValuesAreExact) {
  const Tensor x =
      at::tensor({-1e6f, -200.0f, 200.0f, 1e6f, 0.0f, std::numeric_limits<float>::quiet_NaN()});
  const Tensor y = layers::gelu(x);
  EXPECT_LE(std::abs(y[0].item<float>()), 1e-30f);
  EXPECT_LE(std::abs(y[1].item<float>()), 1e-30f);
  EXPECT_EQ(y[2].item<float>(), 200.0f);
  EXPECT_EQ(y[3].item<float>(), 1e6f);
  EXPECT_EQ(y[4].item<float>(), 0.0f);
  EXPECT_TRUE(std::isnan(y[5].item<float>()));
}

TEST(Gelu, Float64PassesGradcheck) {
  torch::manual_seed(1);
  const Tensor x = (at::randn({3, 7}, at::kDouble) * 3).requires_grad_(true);
  const Tensor y = layers::gelu(x);
  EXPECT_LE((y - exact_gelu(x.detach())).abs().max().item<double>(), 1e-14);
  // Central differences of the op itself against its analytic gradient, at every element.
  const Tensor upstream = at::randn_like(y);
  testing::expect_gradients_match_finite_differences(
      [&] { return (layers::gelu(x) * upstream).sum(); }, {x}, x.numel(), 1e-7);
}

TEST(Gelu, NonContiguousInputsAndOtherDtypesGiveTorchsValues) {
  torch::manual_seed(2);
  const Tensor base = at::randn({6, 5, 4});
  const Tensor strided = base.permute({2, 0, 1});
  EXPECT_TRUE(at::allclose(layers::gelu(strided), at::gelu(strided), 1e-6, 1e-6));
  EXPECT_EQ(layers::gelu(strided).sizes(), strided.sizes());
  // bfloat16 (autocast) falls back to torch's kernel.
  const Tensor half = base.to(at::kBFloat16);
  EXPECT_TRUE(at::equal(layers::gelu(half), at::gelu(half)));
}

TEST(Gelu, StockScopeRunsTorchsKernel) {
  torch::manual_seed(3);
  const Tensor x = at::randn({1000});
  StockGeluScope stock;
  EXPECT_TRUE(at::equal(layers::gelu(x), at::gelu(x)));
}

}  // namespace
}  // namespace vitrine::layers
