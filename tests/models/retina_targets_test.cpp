// RetinaNet's assigner and focal loss against hand-worked cases from mmdetection's rules.
#include "models/detectors/retina_targets.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

namespace vitrine::models {
namespace {

at::Tensor boxes(std::initializer_list<double> v) {
  return at::tensor(std::vector<double>(v), at::kDouble).view({-1, 4});
}

TEST(RetinaTargets, MaxIouAssignerFollowsMmdet) {
  // Anchors: a0 = the object (IoU 1), a1 IoU 0.45 (ignored), a2 IoU 0 (negative), a3 overlaps
  // only object 1, at IoU 50 / (100 + 200 - 50) = 0.2 — below 0.4, but object 1's best, so positive
  // by the low-quality rule.
  const at::Tensor anchors =
      boxes({0, 0, 10, 10, 0, 0, 10, 4.5, 50, 50, 60, 60, 100, 100, 110, 110});
  const at::Tensor gts = boxes({0, 0, 10, 10, 105, 100, 125, 110});
  const at::Tensor a = assign_max_iou(anchors, gts);
  EXPECT_EQ(a[0].item<int64_t>(), 1);
  EXPECT_EQ(a[1].item<int64_t>(), -1);
  EXPECT_EQ(a[2].item<int64_t>(), 0);
  EXPECT_EQ(a[3].item<int64_t>(), 2);
  // Without the low-quality rule (min_pos_iou above the best IoU) a3 stays negative.
  AssignerOptions strict;
  strict.min_pos_iou = 0.3;
  EXPECT_EQ(assign_max_iou(anchors, gts, strict)[3].item<int64_t>(), 0);
  // No objects: all background.
  EXPECT_EQ(assign_max_iou(anchors, boxes({}).view({0, 4})).sum().item<int64_t>(), 0);
}

TEST(RetinaTargets, FocalLossMatchesItsFormula) {
  const at::Tensor logits = at::tensor({2.0, -1.0, 0.5, -3.0}, at::kDouble).view({2, 2});
  const at::Tensor targets = at::tensor({1.0, 0.0, 0.0, 1.0}, at::kDouble).view({2, 2});
  double want = 0;
  for (int i = 0; i < 4; ++i) {
    const double x = logits.view(-1)[i].item<double>(), t = targets.view(-1)[i].item<double>();
    const double p = 1 / (1 + std::exp(-x));
    const double pt = t == 1 ? p : 1 - p;
    const double alpha_t = t == 1 ? 0.25 : 0.75;
    want += -alpha_t * std::pow(1 - pt, 2) * std::log(pt);
  }
  EXPECT_NEAR(sigmoid_focal_loss(logits, targets).item<double>(), want, 1e-6);
  // gamma 0, alpha 0.5 is half the plain sigmoid cross-entropy.
  EXPECT_NEAR(
      sigmoid_focal_loss(logits, targets, 0.5, 0).item<double>(),
      0.5 * at::binary_cross_entropy_with_logits(logits, targets, {}, {}, at::Reduction::Sum)
                .item<double>(),
      1e-6);
}

}  // namespace
}  // namespace vitrine::models
