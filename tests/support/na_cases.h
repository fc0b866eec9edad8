// The shape grid shared by the neighborhood-attention tests (CPU ops, the CUDA kernels' logic
// on the CPU, and the GPU tests): random 1-D/2-D/3-D problems with dilation, causal axes,
// lengths equal to K*d and lengths that are not multiples of d.
#pragma once

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "attention/ops/na_functional.h"

namespace vitrine::testing {

struct Case {
  std::vector<int64_t> lengths, kernel, dilation;
  std::vector<bool> causal;
  bool rpb = false;
  int64_t batch = 2, heads = 2, dim = 4;

  std::string describe() const {
    std::ostringstream s;
    s << "B=" << batch << " H=" << heads << " D=" << dim << " rpb=" << rpb;
    for (size_t a = 0; a < lengths.size(); ++a)
      s << " | L=" << lengths[a] << " K=" << kernel[a] << " d=" << dilation[a]
        << " causal=" << causal[a];
    return s.str();
  }
  attention::NaOptions options() const { return {kernel, dilation, causal}; }
  std::vector<int64_t> shape(int64_t last) const {
    std::vector<int64_t> s{batch, heads};
    s.insert(s.end(), lengths.begin(), lengths.end());
    s.push_back(last);
    return s;
  }
  std::vector<int64_t> rpb_shape() const {
    std::vector<int64_t> s{heads};
    for (auto k : kernel) s.push_back(2 * k - 1);
    return s;
  }
  int64_t queries() const {
    int64_t n = batch;
    for (auto l : lengths) n *= l;
    return n;
  }
  int64_t window() const {
    int64_t w = 1;
    for (auto k : kernel) w *= k;
    return w;
  }
};

// Random cases for `axes` spatial axes; lengths not multiples of d and L == K*d included.
inline std::vector<Case> random_cases(int axes, int count, uint32_t seed) {
  std::mt19937 rng(seed);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const int64_t max_length = axes == 1 ? 40 : axes == 2 ? 14 : 7;
  std::vector<Case> cases;
  while (static_cast<int>(cases.size()) < count) {
    Case c;
    bool any_causal = false;
    for (int a = 0; a < axes; ++a) {
      const int64_t d = uniform(1, 4);
      const int64_t max_kernel = max_length / d;
      if (max_kernel < 1) continue;
      const int64_t k = 2 * uniform(0, (std::min<int64_t>(max_kernel, 13) - 1) / 2) + 1;
      // Sometimes exactly K*d, otherwise anything from K*d to the maximum.
      const int64_t l = uniform(0, 3) == 0 ? k * d : uniform(k * d, std::max(k * d, max_length));
      const bool causal = uniform(0, 3) == 0;
      any_causal |= causal;
      c.lengths.push_back(l);
      c.kernel.push_back(k);
      c.dilation.push_back(d);
      c.causal.push_back(causal);
    }
    if (static_cast<int>(c.lengths.size()) != axes) continue;
    c.rpb = !any_causal && uniform(0, 1) == 1;
    c.batch = uniform(1, 2);
    c.heads = uniform(1, 3);
    c.dim = uniform(1, 9);
    cases.push_back(c);
  }
  return cases;
}

// Largest |got - want| over finite entries relative to max(min_scale, max |want|), on any
// device and dtype; -inf positions (masked slots) must agree. `min_scale` > 1 serves sums of
// many O(1) terms whose exact value may be ~0 (rounding grows with the number of terms).
inline void expect_close_relative(const at::Tensor& got_any, const at::Tensor& want_any, double tol,
                                  const std::string& what, double min_scale = 1.0) {
  const at::Tensor got = got_any.to(at::kCPU, at::kDouble),
                   want = want_any.to(at::kCPU, at::kDouble);
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  ASSERT_TRUE(at::equal(at::isinf(got), at::isinf(want))) << what << ": masked slots differ";
  ASSERT_FALSE(at::isnan(got).any().item<bool>()) << what << ": NaN";
  const at::Tensor g = got.masked_fill(at::isinf(got), 0), w = want.masked_fill(at::isinf(want), 0);
  const double scale = std::max(min_scale, w.abs().max().item<double>());
  EXPECT_LE((g - w).abs().max().item<double>() / scale, tol) << what;
}

}  // namespace vitrine::testing
