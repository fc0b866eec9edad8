// Gradient check for module-level tests: autograd's gradient of a scalar loss w.r.t. each
// input tensor (an input or a parameter, float64) against central differences at a few
// spread-out elements.
#pragma once

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <functional>
#include <vector>

namespace vitrine::testing {

inline void expect_gradients_match_finite_differences(const std::function<at::Tensor()>& loss,
                                                      const std::vector<at::Tensor>& inputs,
                                                      int64_t probes = 6, double tol = 1e-6) {
  const auto grads = torch::autograd::grad({loss()}, inputs);
  at::NoGradGuard no_grad;
  for (size_t t = 0; t < inputs.size(); ++t) {
    at::Tensor flat = inputs[t].view(-1);
    for (int64_t probe = 0; probe < probes; ++probe) {
      const int64_t i = (probe * 7919 + 3) % flat.numel();
      const double saved = flat[i].item<double>(), h = 1e-6;
      flat[i] = saved + h;
      const double up = loss().item<double>();
      flat[i] = saved - h;
      const double down = loss().item<double>();
      flat[i] = saved;
      EXPECT_NEAR(grads[t].reshape(-1)[i].item<double>(), (up - down) / (2 * h), tol)
          << "input " << t << " element " << i;
    }
  }
}

}  // namespace vitrine::testing
