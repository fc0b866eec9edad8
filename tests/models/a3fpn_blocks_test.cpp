// A3-FPN's building blocks against their definitions written out (docs/a3fpn_facts.md): the
// official names, parameter counts, Reassemble's gate and channel flip, CSPRepLayer's
// composition and the sampling blocks' shapes.
#include "models/necks/a3fpn_blocks.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/registry.h"

namespace vitrine::models {
namespace {

TEST(A3FpnBlocks, NamesAndCountsFollowTheOfficialModules) {
  // CSPRepLayer(32 -> 2, expansion 4): hidden 8; conv1/conv2 32*8 + BN, RepVgg 8*8*9 + 8*8 + 2
  // BNs, conv3 8*2 + 2.
  CSPRepLayer csp(32, 2, 1, 4.0);
  EXPECT_EQ(count_parameters(*csp), 2 * (32 * 8 + 16) + (8 * 8 * 9 + 16) + (8 * 8 + 16) + 16 + 2);
  const auto names = csp->named_parameters();
  for (const char* n : {"conv1.conv.weight", "conv1.norm.weight", "bottlenecks.0.conv1.conv.weight",
                        "bottlenecks.0.conv2.norm.bias", "conv3.conv.weight", "conv3.conv.bias"})
    EXPECT_TRUE(names.contains(n)) << n;
  EXPECT_FALSE(CSPRepLayer(32, 8, 1, 1.0)->named_parameters().contains("conv3.conv.weight"));

  Reassemble ra(64, 16);
  EXPECT_EQ(count_parameters(*ra), 4 * 64);  // GroupNorm and LayerNorm affine
  EXPECT_TRUE(ra->named_parameters().contains("gn.weight"));
  EXPECT_TRUE(ra->named_parameters().contains("norm.bias"));

  SampleBlock up(512, 256, true, 2), down(256, 512, false, 2), depthwise(64, 64, false, 4);
  EXPECT_TRUE(up->named_parameters().contains("sample_layer.0.conv.weight"));
  EXPECT_EQ(count_parameters(*down), 256 * 512 * 4 + 2 * 512);
  EXPECT_TRUE(down->named_parameters().contains("sample_layer.norm.weight"));
  EXPECT_EQ(depthwise->named_parameters()["sample_layer.conv.weight"].sizes().vec(),
            (std::vector<int64_t>{64, 1, 4, 4}));
  EXPECT_EQ(count_parameters(*SampleBlock(64, 64, true, 8)), 0);
}

TEST(A3FpnBlocks, ReassembleMatchesItsDefinition) {
  Reassemble ra(8, 2);
  ra->to(at::kDouble);
  {
    torch::NoGradGuard no_grad;
    ra->gn->weight.uniform_(0.5, 1.5);
    ra->gn->bias.normal_(0, 0.5);
    ra->norm->weight.uniform_(0.5, 1.5);
  }
  torch::NoGradGuard no_grad;
  const at::Tensor x = at::randn({2, 8, 5, 4}, at::kDouble);
  // Group norm by hand over 2 groups of 4 channels.
  const at::Tensor g = x.view({2, 2, -1});
  const at::Tensor normed =
      ((g - g.mean(-1, true)) / at::sqrt(g.var(-1, false, true) + 1e-5)).view_as(x);
  const at::Tensor gn =
      normed * ra->gn->weight.view({1, -1, 1, 1}) + ra->gn->bias.view({1, -1, 1, 1});
  const at::Tensor gamma = (ra->gn->weight / ra->gn->weight.sum()).view({1, -1, 1, 1});
  const at::Tensor r = at::sigmoid(gn * gamma);
  at::Tensor y = at::zeros_like(x);
  for (int64_t c = 0; c < 8; ++c) {
    const at::Tensor rc = r.select(1, c), rf = r.select(1, 7 - c);
    const at::Tensor w1 = at::where(rc > 0.5, at::ones_like(rc), rc);
    const at::Tensor w2_flipped = at::where(rf > 0.5, at::zeros_like(rf), rf);  // channel 7 - c
    y.select(1, c).copy_(w1 * x.select(1, c) + w2_flipped * x.select(1, 7 - c));
  }
  const at::Tensor u = y.mean(1, true), s = (y - u).pow(2).mean(1, true);
  const at::Tensor ln = ra->norm->weight.view({1, -1, 1, 1}) * (y - u) / at::sqrt(s + 1e-6) +
                        ra->norm->bias.view({1, -1, 1, 1});
  EXPECT_TRUE(at::allclose(ra->forward(x), at::gelu(ln), 1e-10, 1e-10));
}

TEST(A3FpnBlocks, CspAndSamplingCompose) {
  CSPRepLayer csp(6, 3, 1, 2.0);
  csp->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor x = at::randn({1, 6, 7, 7});
  const at::Tensor a = csp->bottlenecks[0]->forward(csp->conv1->forward(x));
  EXPECT_TRUE(at::allclose(csp->forward(x), csp->conv3->forward(a + csp->conv2->forward(x))));
  SampleBlock up(6, 4, true, 4), down(6, 6, false, 2);
  up->eval();
  down->eval();
  EXPECT_EQ(up->forward(x).sizes().vec(), (std::vector<int64_t>{1, 4, 28, 28}));
  EXPECT_EQ(down->forward(at::randn({1, 6, 8, 8})).sizes().vec(),
            (std::vector<int64_t>{1, 6, 4, 4}));
}

}  // namespace
}  // namespace vitrine::models
