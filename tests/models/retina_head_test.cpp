// RetinaNet's head: mmdet's names and parameter count, the prior-probability bias, the branches
// written out, and shapes per level.
#include "models/heads/retina_head.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace vitrine::models {
namespace {

int64_t count(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

TEST(RetinaHead, NamesCountsAndPrior) {
  RetinaHead head(RetinaHeadOptions{});
  // 2 x 4 convs of 256 x 256 x 9 + 256, cls 256 x 720 x 9 + 720, reg 256 x 36 x 9 + 36.
  EXPECT_EQ(count(*head), 8 * 590080 + 1659600 + 82980);
  const auto p = head->named_parameters();
  for (const char* n :
       {"cls_convs.0.conv.weight", "reg_convs.3.conv.bias", "retina_cls.weight", "retina_reg.bias"})
    EXPECT_TRUE(p.contains(n)) << n;
  // Every class starts at probability 0.01.
  EXPECT_NEAR(at::sigmoid(head->retina_cls->bias).mean().item<double>(), 0.01, 1e-6);
}

TEST(RetinaHead, BranchesAndShapes) {
  RetinaHeadOptions o;
  o.num_classes = 3;
  o.in_channels = o.feat_channels = 8;
  o.stacked_convs = 2;
  RetinaHead head(o);
  torch::NoGradGuard no_grad;
  const std::vector<at::Tensor> levels{at::randn({2, 8, 8, 8}), at::randn({2, 8, 4, 4})};
  const RetinaOutputs out = head->forward(levels);
  ASSERT_EQ(out.cls.size(), 2u);
  EXPECT_EQ(out.cls[1].sizes().vec(), (std::vector<int64_t>{2, 27, 4, 4}));
  EXPECT_EQ(out.reg[0].sizes().vec(), (std::vector<int64_t>{2, 36, 8, 8}));
  at::Tensor c = levels[0];
  for (auto& conv : head->cls_convs) c = at::relu(at::conv2d(c, conv->weight, conv->bias, 1, 1));
  EXPECT_TRUE(at::allclose(out.cls[0],
                           at::conv2d(c, head->retina_cls->weight, head->retina_cls->bias, 1, 1)));
}

}  // namespace
}  // namespace vitrine::models
