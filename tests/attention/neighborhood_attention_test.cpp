// NeighborhoodAttention{1,2,3}D modules: NAT's parameter names and shapes, the output
// against a hand-built computation from the module's own weights, padding of short inputs,
// causality, gradients, errors.
#include "attention/neighborhood_attention.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <set>

#include "attention/ops/na_reference.h"

using namespace vitrine::attention;
using at::Tensor;

namespace {
NeighborhoodAttentionOptions opts(int64_t dim, int64_t heads, std::vector<int64_t> k,
                                  std::vector<int64_t> d = {1}) {
  NeighborhoodAttentionOptions o;
  o.dim = dim;
  o.num_heads = heads;
  o.kernel_size = std::move(k);
  o.dilation = std::move(d);
  return o;
}
}  // namespace

TEST(NeighborhoodAttentionModule, ParameterNamesAndShapesFollowNat) {
  auto m = NeighborhoodAttention2D(opts(64, 4, {7}));
  std::map<std::string, std::vector<int64_t>> got;
  for (const auto& p : m->named_parameters()) got[p.key()] = p.value().sizes().vec();
  std::map<std::string, std::vector<int64_t>> want{{"qkv.weight", {192, 64}},
                                                   {"qkv.bias", {192}},
                                                   {"rpb", {4, 13, 13}},
                                                   {"proj.weight", {64, 64}},
                                                   {"proj.bias", {64}}};
  EXPECT_EQ(got, want);
  // rpb is trunc_normal(std=0.02): small but not zero.
  EXPECT_GT(m->rpb.abs().max().item<double>(), 0);
  EXPECT_LT(m->rpb.std().item<double>(), 0.03);
  auto no_bias = opts(64, 4, {7});
  no_bias.rpb = false;
  no_bias.qkv_bias = false;
  auto m2 = NeighborhoodAttention2D(no_bias);
  EXPECT_EQ(m2->named_parameters().size(), 3u);  // qkv.weight, proj.weight, proj.bias
}

TEST(NeighborhoodAttentionModule, MatchesAComputationFromItsOwnWeights) {
  auto o = opts(24, 3, {5, 3}, {2, 1});
  auto m = NeighborhoodAttention2D(o);
  m->to(at::kDouble);
  m->eval();
  Tensor x = at::randn({2, 11, 9, 24}, at::kDouble);
  Tensor qkv = at::linear(x, m->qkv->weight, m->qkv->bias).view({2, 11, 9, 3, 3, 8});
  Tensor q = qkv.select(3, 0).permute({0, 3, 1, 2, 4});
  Tensor k = qkv.select(3, 1).permute({0, 3, 1, 2, 4});
  Tensor v = qkv.select(3, 2).permute({0, 3, 1, 2, 4});
  Tensor attn =
      reference::fused(q, k, v, m->rpb, {5, 3}, {2, 1}, {false, false}, 1 / std::sqrt(8.0));
  Tensor want = at::linear(attn.permute({0, 2, 3, 1, 4}).reshape({2, 11, 9, 24}), m->proj->weight,
                           m->proj->bias);
  EXPECT_LE((m->forward(x) - want).abs().max().item<double>(), 1e-12);
}

TEST(NeighborhoodAttentionModule, ShortInputsArePaddedAndCroppedBack) {
  auto m = NeighborhoodAttention2D(opts(16, 2, {7}, {2}));  // needs 14x14
  m->eval();
  Tensor x = at::randn({1, 5, 9, 16});
  Tensor out = m->forward(x);
  EXPECT_EQ(out.sizes(), x.sizes());
  Tensor padded = at::constant_pad_nd(x, {0, 0, 0, 5, 0, 9});  // to 14x14 with zeros
  Tensor want = m->forward(padded).narrow(1, 0, 5).narrow(2, 0, 9);
  EXPECT_TRUE(at::allclose(out, want, 1e-5, 1e-6));
}

// The module projects only the real tokens and gives the padding tokens qkv's bias; the
// official module zero-pads the input before qkv. Both must agree, gradients included.
TEST(NeighborhoodAttentionModule, PaddingTokensGetTheProjectionOfZerosInBothDirections) {
  for (bool qkv_bias : {true, false}) {
    auto o = opts(16, 2, {3}, {1});
    o.qkv_bias = qkv_bias;
    auto m = NeighborhoodAttention2D(o);  // needs 3x3
    m->to(at::kDouble);
    Tensor x = at::randn({2, 2, 3, 16}, at::kDouble).requires_grad_();
    Tensor grad = at::randn({2, 2, 3, 16}, at::kDouble);
    Tensor qkv = at::linear(at::constant_pad_nd(x, {0, 0, 0, 0, 0, 1}), m->qkv->weight,
                            qkv_bias ? m->qkv->bias : Tensor())
                     .view({2, 3, 3, 3, 2, 8});
    auto head_first = [&](int i) { return qkv.select(3, i).permute({0, 3, 1, 2, 4}); };
    Tensor attn = reference::fused(head_first(0), head_first(1), head_first(2), m->rpb, {3, 3},
                                   {1, 1}, {false, false}, 1 / std::sqrt(8.0));
    Tensor want = at::linear(attn.permute({0, 2, 3, 1, 4}).reshape({2, 3, 3, 16}), m->proj->weight,
                             m->proj->bias)
                      .narrow(1, 0, 2);
    std::vector<Tensor> inputs{x, m->qkv->weight, m->rpb};
    if (qkv_bias) inputs.push_back(m->qkv->bias);
    std::vector<Tensor> want_grads = torch::autograd::grad({want}, inputs, {grad});
    Tensor got = m->forward(x);
    std::vector<Tensor> got_grads = torch::autograd::grad({got}, inputs, {grad});
    EXPECT_LE((got - want).abs().max().item<double>(), 1e-12) << "qkv_bias " << qkv_bias;
    for (size_t i = 0; i < inputs.size(); ++i)
      EXPECT_LE((got_grads[i] - want_grads[i]).abs().max().item<double>(), 1e-12)
          << "gradient " << i << ", qkv_bias " << qkv_bias;
  }
}

TEST(NeighborhoodAttentionModule, TrainingWithAttentionDropoutUsesTheUnfusedPath) {
  auto o = opts(16, 2, {3});
  o.attn_drop = 1e-12;  // > 0 selects the unfused path; drops (practically) nothing
  auto m = NeighborhoodAttention1D(o);
  Tensor x = at::randn({2, 20, 16});
  m->train();
  Tensor unfused = m->forward(x);
  m->eval();
  Tensor fused = m->forward(x);
  EXPECT_TRUE(at::allclose(unfused, fused, 1e-5, 1e-6));
}

TEST(NeighborhoodAttentionModule, CausalOutputIgnoresTheFuture) {
  auto o = opts(8, 2, {5});
  o.rpb = false;
  o.is_causal = {true};
  auto m = NeighborhoodAttention1D(o);
  m->eval();
  Tensor x = at::randn({1, 16, 8});
  Tensor changed = x.clone();
  changed.narrow(1, 10, 6).normal_();
  Tensor a = m->forward(x), b = m->forward(changed);
  EXPECT_TRUE(at::allclose(a.narrow(1, 0, 10), b.narrow(1, 0, 10)));
  EXPECT_FALSE(at::allclose(a.narrow(1, 10, 6), b.narrow(1, 10, 6)));
}

TEST(NeighborhoodAttentionModule, ThreeDimensionalAndGradientsReachEveryParameter) {
  auto m = NeighborhoodAttention3D(opts(12, 2, {3, 3, 5}));
  Tensor x = at::randn({2, 4, 5, 6, 12}).requires_grad_(true);
  Tensor out = m->forward(x);
  EXPECT_EQ(out.sizes(), x.sizes());
  out.pow(2).sum().backward();
  for (const auto& p : m->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0) << p.key();
  }
  EXPECT_GT(x.grad().abs().sum().item<double>(), 0);
}

TEST(NeighborhoodAttentionModule, ErrorsNameTheProblem) {
  EXPECT_THROW(NeighborhoodAttention2D(opts(10, 3, {7})), c10::Error);  // 10 % 3
  auto causal = opts(8, 2, {5});
  causal.is_causal = {true};
  EXPECT_THROW(NeighborhoodAttention1D(causal), c10::Error);           // rpb with causal
  EXPECT_THROW(NeighborhoodAttention2D(opts(8, 2, {4})), c10::Error);  // even kernel
  auto m = NeighborhoodAttention2D(opts(8, 2, {3}));
  try {
    m->forward(at::randn({1, 8, 8, 9}));
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("expected [B, H, W, 8]"),
              std::string::npos);
  }
}
