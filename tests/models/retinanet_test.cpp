// RetinaNet's loss and inference over the head's outputs, against the targets and the focal
// loss written out for a small case, and detections that decode to the expected boxes with
// duplicates suppressed.
#include "models/detectors/retinanet.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "models/detectors/anchors.h"

namespace vitrine::models {
namespace {

AnchorOptions one_level() {
  AnchorOptions o;
  o.strides = {16};
  o.ratios = {1.0};
  o.scales_per_octave = 1;
  o.octave_base_scale = 2;  // one 32 x 32 anchor per cell
  return o;
}

RetinaOutputs zeros(int64_t b, int64_t classes, int64_t h, int64_t w) {
  RetinaOutputs out;
  out.cls.push_back(at::zeros({b, classes, h, w}));
  out.reg.push_back(at::zeros({b, 4, h, w}));
  return out;
}

TEST(RetinaNet, LossCountsPositivesAndNormalisesByThem) {
  const AnchorOptions o = one_level();
  const at::Tensor anchors = grid_anchors(o, {{3, 3}});  // centres at multiples of 16
  // One object exactly on the anchor of cell (1, 1): [0, 0, 32, 32]; its label is 2 of 3.
  const std::vector<at::Tensor> boxes{at::tensor({0.0f, 0.0f, 32.0f, 32.0f}).view({1, 4})};
  const std::vector<at::Tensor> labels{at::tensor({int64_t{2}})};
  RetinaOutputs out = zeros(1, 3, 3, 3);
  out.reg[0][0][0][1][1] = 0.5;  // dx of the positive anchor
  const RetinaLoss loss = retina_loss(out, anchors, boxes, labels, 3);
  const at::Tensor assigned = assign_max_iou(anchors, boxes[0]);
  int64_t valid = 0;
  for (int64_t i = 0; i < 9; ++i) valid += assigned[i].item<int64_t>() >= 0;
  EXPECT_EQ(loss.num_pos, 1);
  EXPECT_EQ(assigned[4].item<int64_t>(), 1);
  // Logits 0: p = 0.5 everywhere; each valid anchor adds 3 terms, the positive's class 2 with
  // alpha 0.25, all others with 0.75; each term (0.5)^2 log 2 times its alpha.
  const double term = 0.25 * std::log(2.0);
  const double want = (valid * 3 - 1) * 0.75 * term + 0.25 * term;
  EXPECT_NEAR(loss.cls.item<double>(), want, 1e-6);
  EXPECT_NEAR(loss.reg.item<double>(), 0.5, 1e-6);  // |0.5 - 0| on dx, exact box otherwise
  // No objects: no positives, the loss is over every anchor divided by 1.
  const RetinaLoss empty =
      retina_loss(out, anchors, {at::zeros({0, 4})}, {at::zeros({0}, at::kLong)}, 3);
  EXPECT_EQ(empty.num_pos, 0);
  EXPECT_NEAR(empty.cls.item<double>(), 27 * 0.75 * term, 1e-6);

  // Other box losses on the same positive: smooth L1 (beta 0.11) of 0.5 is 0.5 - 0.055; GIoU
  // decodes dx 0.5 to [16, 0, 48, 32] against [0, 0, 32, 32]: IoU 1/3, the enclosing box is
  // the union, so the loss is 2/3 (times the weight).
  BoxLossOptions smooth;
  smooth.type = "smooth_l1";
  EXPECT_NEAR(retina_loss(out, anchors, boxes, labels, 3, {}, {}, smooth).reg.item<double>(), 0.445,
              1e-6);
  BoxLossOptions giou;
  giou.type = "giou";
  giou.weight = 2.0;
  EXPECT_NEAR(retina_loss(out, anchors, boxes, labels, 3, {}, {}, giou).reg.item<double>(), 4.0 / 3,
              1e-5);
  BoxLossOptions bad;
  bad.type = "iou";
  EXPECT_THROW(retina_loss(out, anchors, boxes, labels, 3, {}, {}, bad), c10::Error);
  // Anchors flagged invalid (outside the image's own padded extent) are neither positive nor
  // negative: with the positive anchor's cell invalid, no positives and one anchor fewer.
  at::Tensor valid_flags = at::ones({9}, at::kBool);
  valid_flags[4] = false;
  const RetinaLoss masked = retina_loss(out, anchors, boxes, labels, 3, {}, {valid_flags});
  EXPECT_EQ(masked.num_pos, 0);
  EXPECT_NEAR(masked.cls.item<double>(), (valid - 1) * 3 * 0.75 * term, 1e-6);
}

TEST(RetinaNet, GeneralisedIouOfPairs) {
  const at::Tensor a = at::tensor({0.0f, 0.0f, 1.0f, 1.0f, 0.0f, 0.0f, 2.0f, 2.0f}).view({2, 4});
  const at::Tensor b = at::tensor({2.0f, 0.0f, 3.0f, 1.0f, 1.0f, 1.0f, 3.0f, 3.0f}).view({2, 4});
  const at::Tensor g = paired_giou(a, b);
  EXPECT_NEAR(g[0].item<double>(), 0.0 - 1.0 / 3, 1e-6);  // disjoint: enclosing 3, union 2
  EXPECT_NEAR(g[1].item<double>(), 1.0 / 7 - (9.0 - 7.0) / 9, 1e-6);
  EXPECT_NEAR(paired_giou(a, a)[1].item<double>(), 1.0, 1e-6);
}

TEST(RetinaNet, DetectionsDecodeAndSuppressDuplicates) {
  const AnchorOptions o = one_level();
  const at::Tensor anchors = grid_anchors(o, {{3, 3}});
  RetinaOutputs out = zeros(1, 2, 3, 3);
  out.cls[0].fill_(-10);
  out.cls[0][0][1][1][1] = 3;      // class 1 at cell (1, 1)
  out.cls[0][0][1][1][2] = 2;      // class 1 at cell (1, 2): overlaps by IoU 1/3, kept
  out.cls[0][0][0][1][1] = 1;      // class 0 at cell (1, 1): another class, kept
  out.reg[0][0][0][1][2] = -0.25;  // shifted left by 8: [8, 0, 40, 32], IoU 0.6 with the first
  const Detections d = retina_detect(out, 0, {anchors}, 2);
  ASSERT_EQ(d.scores.size(0), 2);  // the shifted duplicate of class 1 is suppressed
  EXPECT_NEAR(d.scores[0].item<double>(), 1 / (1 + std::exp(-3.0)), 1e-6);
  EXPECT_EQ(d.labels[0].item<int64_t>(), 1);
  EXPECT_TRUE(at::allclose(d.boxes[0], at::tensor({0.0f, 0.0f, 32.0f, 32.0f})));
  EXPECT_EQ(d.labels[1].item<int64_t>(), 0);
  // Clipping to a 20 x 24 image.
  const Detections clipped = retina_detect(out, 0, {anchors}, 2, {}, {20, 24});
  EXPECT_TRUE(at::allclose(clipped.boxes[0], at::tensor({0.0f, 0.0f, 24.0f, 20.0f})));
}

}  // namespace
}  // namespace vitrine::models
