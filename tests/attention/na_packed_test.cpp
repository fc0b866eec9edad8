// Neighborhood attention on packed qkv projections (neighborhood_attention_packed): the
// kernels that read q, k, v and write the output and gradients in the linear layers' token-major
// layouts, against the float64 reference on split tensors, in every kernel build and with
// several threads (the per-thread partial gradients); the general path for other dtypes and
// layouts; the error contract.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "attention/ops/na_functional.h"
#include "attention/ops/na_reference.h"
#include "na/cpu/na_cpu_fast.h"
#include "support/na_cases.h"

using namespace vitrine::attention;
using at::Tensor;
using vitrine::testing::Case;
using vitrine::testing::random_cases;

namespace {

// [B, *S, 3 * heads * D] for a case.
std::vector<int64_t> packed_shape(const Case& c) {
  std::vector<int64_t> s{c.batch};
  s.insert(s.end(), c.lengths.begin(), c.lengths.end());
  s.push_back(3 * c.heads * c.dim);
  return s;
}

// The float64 reference on the split tensors, back in the packed output layout.
Tensor reference_packed(const Tensor& qkv, const Case& c, const c10::optional<Tensor>& rpb,
                        double scale) {
  const int64_t axes = static_cast<int64_t>(c.lengths.size());
  const std::vector<Tensor> split = qkv.unflatten(-1, {3, c.heads, c.dim}).unbind(axes + 1);
  const Tensor out =
      reference::fused(split[0].movedim(-2, 1), split[1].movedim(-2, 1), split[2].movedim(-2, 1),
                       rpb, c.kernel, c.dilation, c.causal, scale);
  return out.movedim(1, -2).flatten(-2);
}

// Values and gradients (qkv, rpb) of the packed op in float32 against the float64 reference.
void check_case(const Case& c) {
  SCOPED_TRACE(c.describe());
  at::manual_seed(static_cast<uint64_t>(c.queries() * 131 + c.window()));
  Tensor qkv = at::randn(packed_shape(c)).requires_grad_(true);
  c10::optional<Tensor> rpb, rpb64;
  std::vector<Tensor> ours{qkv};
  Tensor qkv64 = qkv.detach().to(at::kDouble).requires_grad_(true);
  std::vector<Tensor> ref{qkv64};
  if (c.rpb) {
    rpb = at::randn(c.rpb_shape()).requires_grad_(true);
    rpb64 = rpb->detach().to(at::kDouble).requires_grad_(true);
    ours.push_back(*rpb);
    ref.push_back(*rpb64);
  }
  const double scale = 0.3;
  Tensor got = neighborhood_attention_packed(qkv, c.heads, rpb, c.options(), scale);
  Tensor want = reference_packed(qkv64, c, rpb64, scale);
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_LE((got.to(at::kDouble) - want).abs().max().item<double>(), 2e-5);

  Tensor weight = at::randn(got.sizes());
  auto g_ours = torch::autograd::grad({(got * weight).sum()}, ours);
  auto g_ref = torch::autograd::grad({(want * weight.to(at::kDouble)).sum()}, ref);
  for (size_t i = 0; i < ours.size(); ++i) {
    // float32 backward: ds = p * (dp - delta) cancels, ~1e-4 relative is the honest bound
    // (the head-major op's test uses the same). Floors: with K = 1 the true dq, dk and bias
    // gradient are exactly 0 and float32 leaves noise, summed over every query for the bias.
    const double floor = i == 0 ? 0.05 : 1.0;
    const double magnitude = std::max(g_ref[i].abs().max().item<double>(), floor);
    EXPECT_LE((g_ours[i].to(at::kDouble) - g_ref[i]).abs().max().item<double>() / magnitude, 1e-4)
        << (i == 0 ? "qkv" : "rpb") << " gradient";
  }
}

std::vector<Case> packed_cases() {
  std::vector<Case> cases = random_cases(2, 10, 21);
  const auto one = random_cases(1, 6, 22), three = random_cases(3, 4, 23);
  cases.insert(cases.end(), one.begin(), one.end());
  cases.insert(cases.end(), three.begin(), three.end());
  // Widths with fixed-size kernels (16, 32, 64), the embedded default's levels (7x7 d2 and
  // 4x4 with 1, 2 heads of 32), and an axis not a multiple of its dilation (the transpose
  // kernel rather than ATen's copy).
  cases.push_back({{7, 7}, {3, 3}, {1, 2}, {false, false}, true, 2, 1, 32});
  cases.push_back({{4, 4}, {3, 3}, {1, 1}, {false, false}, true, 2, 2, 32});
  cases.push_back({{3, 3}, {3, 3}, {1, 1}, {false, false}, true, 1, 4, 32});
  cases.push_back({{9, 11}, {3, 3}, {2, 3}, {false, false}, true, 2, 3, 16});
  cases.push_back({{6, 37}, {5, 9}, {1, 4}, {false, true}, false, 1, 2, 64});
  return cases;
}

}  // namespace

TEST(NaPacked, MatchesTheReferenceInEveryKernelBuild) {
  const std::vector<Case> cases = packed_cases();
  int builds = 0;
  for (const char* isa : {"baseline", "avx2", "avx512"}) {
    if (!na::fast::select_isa(isa)) continue;
    ++builds;
    SCOPED_TRACE(isa);
    for (const Case& c : cases) check_case(c);
  }
  EXPECT_GE(builds, 1);
  na::fast::select_isa("avx512") || na::fast::select_isa("avx2") ||
      na::fast::select_isa("baseline");
}

TEST(NaPacked, SeveralThreadsSumTheirPartialGradients) {
  // With one thread the key gradients go straight from the single partial buffer; with more
  // each thread scatters into its own and they are summed.
  const int before = at::get_num_threads();
  at::set_num_threads(2);
  for (const Case& c : packed_cases()) check_case(c);
  at::set_num_threads(before);
}

TEST(NaPacked, AgreesWithTheHeadMajorOp) {
  // The same kernels on the same numbers, only the layouts differ: the results agree to
  // float32 rounding (the order of every sum is the same).
  at::manual_seed(7);
  const Case c{{7, 7}, {3, 3}, {1, 2}, {false, false}, true, 2, 2, 32};
  Tensor qkv = at::randn(packed_shape(c)).requires_grad_(true);
  Tensor rpb = at::randn(c.rpb_shape()).requires_grad_(true);
  Tensor packed = neighborhood_attention_packed(qkv, c.heads, rpb, c.options(), 0.25);
  const std::vector<Tensor> split = qkv.unflatten(-1, {3, c.heads, c.dim}).unbind(3);
  Tensor split_out = neighborhood_attention(split[0].movedim(-2, 1), split[1].movedim(-2, 1),
                                            split[2].movedim(-2, 1), rpb, c.options(), 0.25)
                         .movedim(1, -2)
                         .flatten(-2);
  EXPECT_LE((packed - split_out).abs().max().item<double>(), 1e-6);
  Tensor weight = at::randn(packed.sizes());
  auto g_packed = torch::autograd::grad({(packed * weight).sum()}, {qkv, rpb});
  auto g_split = torch::autograd::grad({(split_out * weight).sum()}, {qkv, rpb});
  EXPECT_LE((g_packed[0] - g_split[0]).abs().max().item<double>(), 1e-5);
  EXPECT_LE((g_packed[1] - g_split[1]).abs().max().item<double>(), 1e-4);
}

TEST(NaPacked, OtherDtypesAndLayoutsTakeTheGeneralPath) {
  at::manual_seed(8);
  const Case c{{6, 5}, {3, 3}, {2, 1}, {false, false}, true, 2, 2, 8};
  // float64 (the general op) against the reference, to float64 rounding.
  Tensor qkv64 = at::randn(packed_shape(c), at::kDouble);
  Tensor rpb64 = at::randn(c.rpb_shape(), at::kDouble);
  EXPECT_LE((neighborhood_attention_packed(qkv64, c.heads, rpb64, c.options(), 0.5) -
             reference_packed(qkv64, c, rpb64, 0.5))
                .abs()
                .max()
                .item<double>(),
            1e-12);
  // A float32 qkv that is a view with other strides (channels first, transposed) gives the
  // same result as its contiguous copy.
  Tensor channels_first = at::randn({c.batch, 3 * c.heads * c.dim, 6, 5});
  Tensor view = channels_first.permute({0, 2, 3, 1});
  ASSERT_FALSE(view.is_contiguous());
  Tensor rpb = rpb64.to(at::kFloat);
  EXPECT_TRUE(
      at::equal(neighborhood_attention_packed(view, c.heads, rpb, c.options(), 0.5),
                neighborhood_attention_packed(view.contiguous(), c.heads, rpb, c.options(), 0.5)));
}

TEST(NaPacked, ErrorsNameTheProblem) {
  const NaOptions o{{3}, {1}, {false}};
  auto message = [&](const Tensor& qkv, int64_t heads) -> std::string {
    try {
      neighborhood_attention_packed(qkv, heads, c10::nullopt, o, 1.0);
    } catch (const c10::Error& e) {
      return e.what_without_backtrace();
    }
    return "";
  };
  EXPECT_NE(message(at::randn({2, 5, 5, 20}), 2).find("must be 3 x heads (2) x head_dim"),
            std::string::npos);
  EXPECT_NE(message(at::randn({2, 18}), 1).find("1 to 3 spatial axes"), std::string::npos);
  // The op's own checks still apply: a window larger than the input.
  EXPECT_NE(message(at::randn({1, 2, 2, 12}), 1), "");
}
