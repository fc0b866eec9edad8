// vitrine::depthwise_conv2d_nhwc against torch's grouped conv2d (the independent reference),
// by float64 central differences, and for sums that do not depend on the thread count.
#include "layers/depthwise_conv.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <optional>
#include <vector>

#include "core/error.h"

namespace vitrine::layers {
namespace {

using at::Tensor;

Tensor reference(const Tensor& input, const Tensor& weight, const std::optional<Tensor>& bias) {
  const int64_t pad = (weight.size(2) - 1) / 2;
  const c10::optional<Tensor> b = bias ? c10::optional<Tensor>(*bias) : c10::nullopt;
  return at::conv2d(input.permute({0, 3, 1, 2}), weight, b, 1, pad, 1, input.size(3))
      .permute({0, 2, 3, 1});
}

struct Case {
  int64_t B, H, W, C, k;
  bool bias;
};

// Maps smaller than the kernel, non-square maps, channel counts off the vector width.
const Case kCases[] = {{2, 5, 7, 13, 3, true},
                       {3, 4, 4, 32, 3, false},
                       {1, 2, 3, 5, 5, true},
                       {9, 3, 2, 8, 3, true},
                       {2, 6, 5, 3, 1, true}};

TEST(DepthwiseConv, ValuesAndGradientsMatchTorchsGroupedConv) {
  torch::manual_seed(0);
  for (const Case& c : kCases) {
    SCOPED_TRACE("B" + std::to_string(c.B) + " " + std::to_string(c.H) + "x" + std::to_string(c.W) +
                 " C" + std::to_string(c.C) + " k" + std::to_string(c.k));
    const Tensor input = at::randn({c.B, c.H, c.W, c.C}).requires_grad_(true);
    const Tensor weight = at::randn({c.C, 1, c.k, c.k}).requires_grad_(true);
    const std::optional<Tensor> bias =
        c.bias ? std::optional<Tensor>(at::randn({c.C}).requires_grad_(true)) : std::nullopt;
    const Tensor out = depthwise_conv2d_nhwc(input, weight, bias);
    const Tensor expected = reference(input, weight, bias);
    ASSERT_EQ(out.sizes(), expected.sizes());
    EXPECT_TRUE(at::allclose(out, expected, 1e-5, 1e-5)) << (out - expected).abs().max();
    const Tensor projection = at::randn_like(out);
    std::vector<Tensor> inputs{input, weight};
    if (bias) inputs.push_back(*bias);
    const auto ours = torch::autograd::grad({(out * projection).sum()}, inputs);
    const auto theirs = torch::autograd::grad({(expected * projection).sum()}, inputs);
    for (size_t i = 0; i < inputs.size(); ++i)
      EXPECT_TRUE(at::allclose(ours[i], theirs[i], 1e-4, 1e-4))
          << "gradient " << i << ": " << (ours[i] - theirs[i]).abs().max();
  }
}

TEST(DepthwiseConv, Float64GradcheckByCentralDifferences) {
  torch::manual_seed(1);
  const auto opts = at::TensorOptions().dtype(at::kDouble);
  // A strided (permuted) input too: the op takes any strides.
  std::vector<Tensor> inputs{at::randn({2, 5, 3, 4}, opts).permute({0, 2, 1, 3}),
                             at::randn({4, 1, 3, 3}, opts), at::randn({4}, opts)};
  for (auto& x : inputs) x = x.detach().requires_grad_(true);
  auto f = [&] { return depthwise_conv2d_nhwc(inputs[0], inputs[1], inputs[2]); };
  const Tensor projection = at::randn_like(f());
  const auto analytic = torch::autograd::grad({(f() * projection).sum()}, inputs);
  at::NoGradGuard no_grad;
  const double eps = 1e-6;
  for (size_t t = 0; t < inputs.size(); ++t) {
    Tensor flat = inputs[t].as_strided({inputs[t].numel()}, {1});  // the storage, in order
    // The input's gradient in its storage order (undo the permutation).
    const Tensor g =
        (t == 0 ? analytic[t].permute({0, 2, 1, 3}) : analytic[t]).contiguous().view({-1});
    double worst = 0;
    for (int64_t e = 0; e < flat.numel(); ++e) {
      const double saved = flat[e].item<double>();
      flat[e] = saved + eps;
      const double plus = (f() * projection).sum().item<double>();
      flat[e] = saved - eps;
      const double minus = (f() * projection).sum().item<double>();
      flat[e] = saved;
      const double numeric = (plus - minus) / (2 * eps);
      worst = std::max(worst, std::abs(numeric - g[e].item<double>()) / (1 + std::abs(numeric)));
    }
    EXPECT_LE(worst, 1e-7) << "input " << t;
  }
}

TEST(DepthwiseConv, GradientsDoNotDependOnTheThreadCount) {
  torch::manual_seed(2);
  const Tensor input = at::randn({20, 6, 6, 24}).requires_grad_(true);
  const Tensor weight = at::randn({24, 1, 3, 3}).requires_grad_(true);
  const Tensor bias = at::randn({24}).requires_grad_(true);
  const Tensor projection = at::randn({20, 6, 6, 24});
  const int threads = at::get_num_threads();
  std::vector<std::vector<Tensor>> runs;
  for (int n : {1, 2}) {
    at::set_num_threads(n);
    runs.push_back(torch::autograd::grad(
        {(depthwise_conv2d_nhwc(input, weight, bias) * projection).sum()}, {input, weight, bias}));
  }
  at::set_num_threads(threads);
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(at::equal(runs[0][i], runs[1][i])) << i;
}

// Export's portable flavour: inside the scope the same values come from torch's conv2d, so a
// trace records no vitrine op.
TEST(DepthwiseConv, StockScopeRunsTorchsConvWithTheSameValues) {
  torch::manual_seed(3);
  const Tensor input = at::randn({2, 4, 5, 8}).requires_grad_(true);
  const Tensor weight = at::randn({8, 1, 3, 3});
  const Tensor ours = depthwise_conv2d_nhwc(input, weight, std::nullopt);
  ASSERT_NE(ours.grad_fn(), nullptr);
  EXPECT_NE(ours.grad_fn()->name().find("DepthwiseFunction"), std::string::npos)
      << ours.grad_fn()->name();
  Tensor stock;
  {
    StockDepthwiseScope scope;
    stock = depthwise_conv2d_nhwc(input, weight, std::nullopt);
  }
  EXPECT_EQ(stock.grad_fn()->name().find("DepthwiseFunction"), std::string::npos)
      << stock.grad_fn()->name();
  EXPECT_TRUE(at::allclose(ours, stock, 1e-5, 1e-5));
  // The scope ends with its block.
  EXPECT_NE(depthwise_conv2d_nhwc(input, weight, std::nullopt)
                .grad_fn()
                ->name()
                .find("DepthwiseFunction"),
            std::string::npos);
}

TEST(DepthwiseConv, RefusesWhatIsNotADepthwiseWeight) {
  const Tensor input = at::randn({1, 4, 4, 6});
  EXPECT_THROW(depthwise_conv2d_nhwc(input, at::randn({6, 1, 2, 2}), std::nullopt), c10::Error);
  EXPECT_THROW(depthwise_conv2d_nhwc(input, at::randn({5, 1, 3, 3}), std::nullopt), c10::Error);
  EXPECT_THROW(depthwise_conv2d_nhwc(input, at::randn({6, 2, 3, 3}), std::nullopt), c10::Error);
  EXPECT_THROW(depthwise_conv2d_nhwc(at::randn({4, 4, 6}), at::randn({6, 1, 3, 3}), std::nullopt),
               c10::Error);
  EXPECT_THROW(depthwise_conv2d_nhwc(input, at::randn({6, 1, 3, 3}), at::randn({5})), c10::Error);
}

}  // namespace
}  // namespace vitrine::layers
