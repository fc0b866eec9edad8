// Neighborhood-attention ops against the reference over a grid of shapes, the fused op
// against the unfused pair, a known answer (full attention), and the error contract.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <random>

#include "attention/ops/na_functional.h"
#include "attention/ops/na_reference.h"
#include "na/cpu/na_cpu_fast.h"
#include "support/na_cases.h"

using namespace vitrine::attention;
using at::Tensor;
using vitrine::testing::Case;
using vitrine::testing::random_cases;

namespace {

// -inf (masked slots) compared as positions, everything else numerically.
void expect_close(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  Tensor got_inf = at::isinf(got), want_inf = at::isinf(want);
  ASSERT_TRUE(at::equal(got_inf, want_inf)) << what << ": masked slots differ";
  Tensor diff = (got.masked_fill(got_inf, 0) - want.masked_fill(want_inf, 0)).abs().max();
  EXPECT_LE(diff.item<double>(), tol) << what;
}

void check_against_reference(const Case& c, at::ScalarType dtype, double tol) {
  SCOPED_TRACE(c.describe());
  auto opt = at::TensorOptions().dtype(dtype);
  Tensor q = at::randn(c.shape(c.dim), opt), k = at::randn(c.shape(c.dim), opt);
  Tensor v = at::randn(c.shape(c.dim + 1), opt);  // value dim may differ from qk dim
  c10::optional<Tensor> rpb;
  if (c.rpb) rpb = at::randn(c.rpb_shape(), opt);
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.dim));

  Tensor attn = na_qk(q * scale, k, rpb, c.options());
  Tensor ref_attn = reference::qk(q * scale, k, rpb, c.kernel, c.dilation, c.causal);
  expect_close(attn, ref_attn, tol, "qk");

  Tensor weights = at::softmax(ref_attn, -1);
  expect_close(na_av(weights, v, c.options()),
               reference::av(weights, v, c.kernel, c.dilation, c.causal), tol, "av");

  expect_close(neighborhood_attention(q, k, v, rpb, c.options(), scale),
               reference::fused(q, k, v, rpb, c.kernel, c.dilation, c.causal, scale), tol, "fused");
}

}  // namespace

TEST(NaOps, OneDimensionalEveryKernelAndDilation) {
  for (int64_t d = 1; d <= 4; ++d)
    for (int64_t k = 1; k <= 13; k += 2)
      for (bool causal : {false, true}) {
        const int64_t length = k * d + (k + d) % 5;  // L == K*d and L not a multiple of d
        Case c{{length}, {k}, {d}, {causal}, !causal, 1, 2, 5};
        check_against_reference(c, at::kDouble, 1e-12);
      }
}

TEST(NaOps, TwoDimensionalRandomShapes) {
  for (const Case& c : random_cases(2, 60, 2)) check_against_reference(c, at::kDouble, 1e-12);
}

TEST(NaOps, ThreeDimensionalRandomShapes) {
  for (const Case& c : random_cases(3, 25, 3)) check_against_reference(c, at::kDouble, 1e-12);
}

TEST(NaOps, FloatMatchesReference) {
  for (const Case& c : random_cases(2, 15, 4)) check_against_reference(c, at::kFloat, 1e-4);
  for (const Case& c : random_cases(1, 15, 5)) check_against_reference(c, at::kFloat, 1e-4);
}

TEST(NaOps, FusedAgreesWithUnfusedInFloat32) {
  for (const Case& c : random_cases(2, 20, 6)) {
    SCOPED_TRACE(c.describe());
    Tensor q = at::randn(c.shape(c.dim)), k = at::randn(c.shape(c.dim)),
           v = at::randn(c.shape(c.dim));
    c10::optional<Tensor> rpb;
    if (c.rpb) rpb = at::randn(c.rpb_shape());
    const double scale = 0.37;
    Tensor unfused = na_av(at::softmax(na_qk(q * scale, k, rpb, c.options()), -1), v, c.options());
    Tensor fused = neighborhood_attention(q, k, v, rpb, c.options(), scale);
    EXPECT_LE((fused - unfused).abs().max().item<double>(), 1e-5);
  }
}

TEST(NaOps, NeighbourhoodCoveringTheInputIsFullAttention) {
  // K*d covering the whole input with d = 1: every query sees every key.
  Tensor q = at::randn({2, 3, 5, 7, 8}, at::kDouble), k = at::randn_like(q), v = at::randn_like(q);
  const double scale = 1.0 / std::sqrt(8.0);
  NaOptions o{{5, 7}, {1, 1}, {false}};
  Tensor flat_q = q.reshape({2, 3, 35, 8}), flat_k = k.reshape({2, 3, 35, 8});
  Tensor full = at::matmul(at::softmax(at::matmul(flat_q, flat_k.transpose(-1, -2)) * scale, -1),
                           v.reshape({2, 3, 35, 8}))
                    .view({2, 3, 5, 7, 8});
  EXPECT_LE((na2d(q, k, v, c10::nullopt, o, scale) - full).abs().max().item<double>(), 1e-12);
  Tensor unfused = na2d_av(at::softmax(na2d_qk(q * scale, k, c10::nullopt, o), -1), v, o);
  EXPECT_LE((unfused - full).abs().max().item<double>(), 1e-12);
}

TEST(NaOps, CausalOneDimensionalIsMaskedFullAttention) {
  // 1-D causal with K == L: the lower-triangular (causal) softmax attention.
  const int64_t L = 9;
  Tensor q = at::randn({1, 2, L, 4}, at::kDouble), k = at::randn_like(q), v = at::randn_like(q);
  Tensor logits = at::matmul(q, k.transpose(-1, -2));
  Tensor mask = at::ones({L, L}, at::kBool).triu(1);
  Tensor full = at::matmul(at::softmax(logits.masked_fill(mask, -INFINITY), -1), v);
  NaOptions o{{L}, {1}, {true}};
  EXPECT_LE((na1d(q, k, v, c10::nullopt, o, 1.0) - full).abs().max().item<double>(), 1e-12);
}

TEST(NaOps, NonContiguousInputsAreReadCorrectly) {
  Tensor base = at::randn({2, 3, 6, 9, 10});  // [B, H, D, H', W'] to be permuted
  Tensor q = base.permute({0, 1, 3, 4, 2});   // [B, H, 9, 10, 6], non-contiguous
  ASSERT_FALSE(q.is_contiguous());
  Tensor k = at::randn({2, 3, 9, 10, 6}).transpose(2, 3).contiguous().transpose(2, 3);
  Tensor v = at::randn({2, 10, 3, 9, 6}).permute({0, 2, 3, 1, 4});
  Tensor rpb = at::randn({3, 9, 5}).transpose(1, 2).contiguous().transpose(1, 2);
  NaOptions o{{5, 3}, {1, 2}, {false}};
  Tensor got = na2d(q, k, v, rpb, o, 0.5);
  Tensor want = na2d(q.contiguous(), k.contiguous(), v.contiguous(), rpb.contiguous(), o, 0.5);
  EXPECT_TRUE(at::allclose(got, want));
  EXPECT_TRUE(at::allclose(na2d_qk(q, k, rpb, o),
                           na2d_qk(q.contiguous(), k.contiguous(), rpb.contiguous(), o)));
}

TEST(NaOps, HalfPrecisionForwardIsCloseToFloat) {
  Tensor q = at::randn({1, 2, 12, 12, 16}), k = at::randn_like(q), v = at::randn_like(q);
  NaOptions o{{7}, {1}, {false}};
  Tensor want = na2d(q, k, v, c10::nullopt, o, 0.25);
  for (auto dtype : {at::kBFloat16, at::kHalf}) {
    Tensor got = na2d(q.to(dtype), k.to(dtype), v.to(dtype), c10::nullopt, o, 0.25);
    EXPECT_EQ(got.scalar_type(), dtype);
    EXPECT_LE((got.to(at::kFloat) - want).abs().max().item<double>(), 3e-2);
  }
}

namespace {
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "";
}
}  // namespace

TEST(NaOps, ErrorsNameTheProblem) {
  Tensor q = at::randn({1, 2, 10, 12, 4});
  NaOptions ok{{5}, {2}, {false}};
  std::string msg = error_of([&] { na2d(q, q, q, c10::nullopt, {{7}, {2}, {false}}, 1.0); });
  EXPECT_NE(msg.find("kernel_size 7 * dilation 2 = 14 exceeds the input length 10 on axis 0"),
            std::string::npos)
      << msg;
  msg = error_of([&] { na2d(q, q, q, at::randn({2, 7, 7}), {{4}, {1}, {false}}, 1.0); });
  EXPECT_NE(msg.find("odd"), std::string::npos) << msg;
  msg = error_of([&] { na2d(q, q, q, at::randn({2, 9, 9}), {{5}, {1}, {true}}, 1.0); });
  EXPECT_NE(msg.find("causal"), std::string::npos) << msg;
  msg = error_of([&] { na2d(q, q, q, at::randn({2, 9, 8}), ok, 1.0); });
  EXPECT_NE(msg.find("rpb must have shape [2, 9, 9]"), std::string::npos) << msg;
  msg = error_of([&] { na2d(q, q.to(at::kDouble), q, c10::nullopt, ok, 1.0); });
  EXPECT_NE(msg.find("dtype"), std::string::npos) << msg;
  msg = error_of([&] { na2d(q, at::randn({1, 2, 10, 11, 4}), q, c10::nullopt, ok, 1.0); });
  EXPECT_NE(msg.find("does not match"), std::string::npos) << msg;
  msg = error_of([&] { na1d(q, q, q, c10::nullopt, ok, 1.0); });
  EXPECT_NE(msg.find("expected a 4-D"), std::string::npos) << msg;
  msg = error_of([&] { na2d(q, q, q, c10::nullopt, {{5, 5, 5}, {1}, {false}}, 1.0); });
  EXPECT_NE(msg.find("kernel_size must have 1 or 2 entries"), std::string::npos) << msg;
  msg = error_of([&] { na2d_av(at::randn({1, 2, 10, 12, 24}), q, ok); });
  EXPECT_NE(msg.find("25 weights per query"), std::string::npos) << msg;
  msg = error_of([&] { na2d(q, q, q, c10::nullopt, {{5}, {0}, {false}}, 1.0); });
  EXPECT_NE(msg.find("dilation must be >= 1"), std::string::npos) << msg;
  msg = error_of([&] { na_qk(at::randn({3, 4}), at::randn({3, 4}), c10::nullopt, ok); });
  EXPECT_FALSE(msg.empty());
}

// Every build of the tiled float kernels this CPU can run (baseline SSE, AVX2, AVX-512)
// against the float64 reference, over shapes that exercise each tile kind: interior
// (contiguous), border (constant start), causal, dilation groups, value dims 16/32/64/other.
TEST(NaOps, EveryTiledKernelBuildMatchesReference) {
  std::vector<Case> cases = random_cases(2, 12, 7);
  const auto more = random_cases(1, 8, 8), three = random_cases(3, 6, 9);
  cases.insert(cases.end(), more.begin(), more.end());
  cases.insert(cases.end(), three.begin(), three.end());
  cases.push_back({{9, 40}, {3, 7}, {1, 2}, {false, false}, true, 2, 2, 32});
  cases.push_back({{6, 37}, {5, 9}, {1, 4}, {false, true}, false, 1, 2, 64});
  cases.push_back({{7, 7}, {3, 3}, {2, 2}, {false, false}, true, 3, 2, 16});  // 16-wide heads
  int builds = 0;
  for (const char* isa : {"baseline", "avx2", "avx512"}) {
    if (!na::fast::select_isa(isa)) continue;
    ++builds;
    SCOPED_TRACE(isa);
    EXPECT_EQ(std::string(na::fast::kernels().isa), isa);
    for (const Case& c : cases) {
      SCOPED_TRACE(c.describe());
      Tensor q = at::randn(c.shape(c.dim)), k = at::randn(c.shape(c.dim));
      Tensor v = at::randn(c.shape(c.dim % 16 == 0 ? c.dim : c.dim + 3));
      c10::optional<Tensor> rpb;
      if (c.rpb) rpb = at::randn(c.rpb_shape());
      const double scale = 0.3;
      std::vector<Tensor> ours{q.requires_grad_(true), k.requires_grad_(true),
                               v.requires_grad_(true)};
      std::vector<Tensor> ref{q.detach().to(at::kDouble).requires_grad_(true),
                              k.detach().to(at::kDouble).requires_grad_(true),
                              v.detach().to(at::kDouble).requires_grad_(true)};
      c10::optional<Tensor> rpb64;
      if (rpb) {
        ours.push_back(rpb->requires_grad_(true));
        ref.push_back(rpb->detach().to(at::kDouble).requires_grad_(true));
        rpb64 = ref.back();
      }
      Tensor got = neighborhood_attention(q, k, v, rpb, c.options(), scale);
      Tensor want =
          reference::fused(ref[0], ref[1], ref[2], rpb64, c.kernel, c.dilation, c.causal, scale);
      EXPECT_LE((got.to(at::kDouble) - want).abs().max().item<double>(), 2e-5);
      {
        // The unfused pair through the same tiled kernels.
        at::NoGradGuard no_grad;
        Tensor attn = na_qk(q * scale, k, rpb, c.options());
        expect_close(attn.to(at::kDouble),
                     reference::qk(ref[0] * scale, ref[1], rpb64, c.kernel, c.dilation, c.causal),
                     2e-5, "qk");
        Tensor weights = at::softmax(attn, -1);
        expect_close(na_av(weights, v, c.options()).to(at::kDouble),
                     reference::av(weights.to(at::kDouble), ref[2], c.kernel, c.dilation, c.causal),
                     2e-5, "av");
      }
      // Backward (the tiled float32 kernel) against autograd through the reference.
      Tensor weight = at::randn(got.sizes());
      auto g_ours = torch::autograd::grad({(got * weight).sum()}, ours);
      auto g_ref = torch::autograd::grad({(want * weight.to(at::kDouble)).sum()}, ref);
      for (size_t i = 0; i < ours.size(); ++i) {
        // Floor: with K = 1 the true dq/dk are exactly 0 and float32 leaves ~1e-7 noise.
        const double magnitude = std::max(g_ref[i].abs().max().item<double>(), 0.05);
        // float32: ds = p * (dp - delta) cancels, so ~1e-4 relative is the honest bound.
        EXPECT_LE((g_ours[i].to(at::kDouble) - g_ref[i]).abs().max().item<double>() / magnitude,
                  1e-4)
            << "gradient of input " << i;
      }
    }
  }
  EXPECT_GE(builds, 1);  // the baseline build runs everywhere
  na::fast::select_isa("avx512") || na::fast::select_isa("avx2") ||
      na::fast::select_isa("baseline");
}
