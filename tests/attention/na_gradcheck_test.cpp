// gradcheck in float64: the hand-written backward kernels of every op, for every input,
// against central finite differences; and against autograd through the reference.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <functional>

#include "attention/ops/na_functional.h"
#include "attention/ops/na_reference.h"

using namespace vitrine::attention;
using at::Tensor;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Masked (-inf) outputs carry no gradient; leave them out of the loss.
Tensor weighted_loss(const Tensor& out, const Tensor& weight) {
  return (out.masked_fill(at::isinf(out), 0) * weight).sum();
}

// Compares the analytical gradient of sum(f(x) * w) w.r.t. every input with central
// differences (torch.autograd.gradcheck in spirit, for one random projection w).
void expect_gradcheck(const Fn& f, std::vector<Tensor> inputs, const std::string& what,
                      double eps = 1e-6, double tol = 1e-7) {
  SCOPED_TRACE(what);
  for (auto& x : inputs) x = x.detach().clone().requires_grad_(true);
  Tensor out = f(inputs);
  Tensor weight = at::randn_like(out);
  auto grads = torch::autograd::grad({weighted_loss(out, weight)}, inputs);

  at::NoGradGuard no_grad;
  for (size_t t = 0; t < inputs.size(); ++t) {
    ASSERT_TRUE(grads[t].defined()) << "no gradient for input " << t;
    Tensor x = inputs[t];
    double* data = x.data_ptr<double>();
    const Tensor analytic = grads[t].contiguous();
    const double* g = analytic.data_ptr<double>();
    double worst = 0;
    for (int64_t e = 0; e < x.numel(); ++e) {
      const double saved = data[e];
      data[e] = saved + eps;
      const double plus = weighted_loss(f(inputs), weight).item<double>();
      data[e] = saved - eps;
      const double minus = weighted_loss(f(inputs), weight).item<double>();
      data[e] = saved;
      const double numeric = (plus - minus) / (2 * eps);
      worst = std::max(worst, std::abs(numeric - g[e]) / (1 + std::abs(numeric)));
    }
    EXPECT_LE(worst, tol) << "input " << t << " of " << inputs.size();
  }
}

struct GradProblem {
  std::vector<int64_t> shape, kernel, dilation;
  std::vector<bool> causal;
  bool rpb;
};

// Small problems that still exercise borders, dilation groups and causal windows.
std::vector<GradProblem> grad_problems() {
  return {
      {{1, 2, 11, 3}, {3}, {2}, {false}, true},
      {{2, 1, 9, 2}, {5}, {1}, {true}, false},
      {{1, 2, 6, 7, 3}, {3, 5}, {2, 1}, {false, false}, true},
      {{1, 1, 6, 5, 2}, {3, 3}, {1, 1}, {true, false}, false},
      {{1, 2, 4, 4, 5, 2}, {3, 3, 3}, {1, 1, 1}, {false, false, false}, true},
      {{1, 1, 5, 3, 4, 2}, {3, 1, 3}, {1, 2, 1}, {false, false, true}, false},
  };
}

std::vector<int64_t> rpb_shape(const GradProblem& s) {
  std::vector<int64_t> out{s.shape[1]};
  for (auto k : s.kernel) out.push_back(2 * k - 1);
  return out;
}

}  // namespace

TEST(NaGradcheck, QkEveryInput) {
  for (const GradProblem& s : grad_problems()) {
    NaOptions o{s.kernel, s.dilation, s.causal};
    std::vector<Tensor> inputs{at::randn(s.shape, at::kDouble), at::randn(s.shape, at::kDouble)};
    if (s.rpb) inputs.push_back(at::randn(rpb_shape(s), at::kDouble));
    expect_gradcheck(
        [&](const std::vector<Tensor>& x) {
          return na_qk(x[0], x[1], x.size() > 2 ? c10::optional<Tensor>(x[2]) : c10::nullopt, o);
        },
        inputs, "qk");
  }
}

TEST(NaGradcheck, AvEveryInput) {
  for (const GradProblem& s : grad_problems()) {
    NaOptions o{s.kernel, s.dilation, s.causal};
    int64_t window = 1;
    for (auto k : s.kernel) window *= k;
    std::vector<int64_t> attn_shape = s.shape;
    attn_shape.back() = window;
    expect_gradcheck([&](const std::vector<Tensor>& x) { return na_av(x[0], x[1], o); },
                     {at::randn(attn_shape, at::kDouble), at::randn(s.shape, at::kDouble)}, "av");
  }
}

TEST(NaGradcheck, FusedEveryInput) {
  for (const GradProblem& s : grad_problems()) {
    NaOptions o{s.kernel, s.dilation, s.causal};
    std::vector<Tensor> inputs{at::randn(s.shape, at::kDouble), at::randn(s.shape, at::kDouble),
                               at::randn(s.shape, at::kDouble)};
    if (s.rpb) inputs.push_back(at::randn(rpb_shape(s), at::kDouble));
    expect_gradcheck(
        [&](const std::vector<Tensor>& x) {
          return neighborhood_attention(
              x[0], x[1], x[2], x.size() > 3 ? c10::optional<Tensor>(x[3]) : c10::nullopt, o, 0.7);
        },
        inputs, "fused");
  }
}

// The same gradients as libtorch's autograd through the gather-based reference, on a
// larger problem than finite differences can afford (float64, tight tolerance).
TEST(NaGradcheck, MatchesAutogradThroughTheReference) {
  const std::vector<int64_t> kernel{5, 3}, dilation{2, 3};
  const std::vector<bool> causal{false, false};
  NaOptions o{kernel, dilation, causal};
  Tensor q = at::randn({2, 3, 13, 11, 6}, at::kDouble).requires_grad_(true);
  Tensor k = at::randn_like(q).requires_grad_(true), v = at::randn_like(q).requires_grad_(true);
  Tensor rpb = at::randn({3, 9, 5}, at::kDouble).requires_grad_(true);
  Tensor weight = at::randn({2, 3, 13, 11, 6}, at::kDouble);
  auto ours = torch::autograd::grad({(neighborhood_attention(q, k, v, rpb, o, 0.4) * weight).sum()},
                                    {q, k, v, rpb});
  auto ref = torch::autograd::grad(
      {(reference::fused(q, k, v, rpb, kernel, dilation, causal, 0.4) * weight).sum()},
      {q, k, v, rpb});
  for (size_t i = 0; i < 4; ++i)
    EXPECT_LE((ours[i] - ref[i]).abs().max().item<double>(), 1e-11) << "input " << i;
}
