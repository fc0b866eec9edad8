// RetinaNet anchors and box coding against values worked from mmdetection's definitions.
#include "models/detectors/anchors.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

namespace vitrine::models {
namespace {

TEST(Anchors, BaseAnchorsFollowMmdetOrder) {
  AnchorOptions o;
  const at::Tensor a = base_anchors(o, 8);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{9, 4}));
  // Ratio 0.5 (first), scale 4: h = 8 * sqrt(0.5) * 4, w = 8 / sqrt(0.5) * 4.
  const double w0 = 8 / std::sqrt(0.5) * 4, h0 = 8 * std::sqrt(0.5) * 4;
  EXPECT_NEAR(a[0][0].item<double>(), -w0 / 2, 1e-4);
  EXPECT_NEAR(a[0][3].item<double>(), h0 / 2, 1e-4);
  // Ratio 1 (middle three): squares of 32, 32 * 2^(1/3), 32 * 2^(2/3).
  for (int s = 0; s < 3; ++s) {
    const double side = 32 * std::pow(2.0, s / 3.0);
    EXPECT_NEAR(a[3 + s][2].item<double>() - a[3 + s][0].item<double>(), side, 1e-4) << s;
    EXPECT_NEAR(a[3 + s][3].item<double>() - a[3 + s][1].item<double>(), side, 1e-4) << s;
  }
}

TEST(Anchors, GridShiftsEveryCellRowMajor) {
  AnchorOptions o;
  o.strides = {8, 16};
  const at::Tensor all = grid_anchors(o, {{3, 4}, {2, 2}});
  ASSERT_EQ(all.size(0), (3 * 4 + 2 * 2) * 9);
  const at::Tensor base = base_anchors(o, 8);
  // Cell (row 1, column 2) of level 0 is cell 6: anchors 54..62, shifted by (16, 8).
  const at::Tensor shift = at::tensor({16.0f, 8.0f, 16.0f, 8.0f});
  EXPECT_TRUE(at::allclose(all.narrow(0, 54, 9), base + shift));
  // Level 1 starts after the 108 anchors of level 0 with stride 16.
  EXPECT_TRUE(at::allclose(all.narrow(0, 108, 9), base_anchors(o, 16)));
}

TEST(Anchors, CodingRoundTripsAndClampsLikeMmdet) {
  const at::Tensor anchors =
      at::tensor({0.0, 0.0, 10.0, 20.0, 5.0, 5.0, 15.0, 9.0}, at::kDouble).view({2, 4});
  const at::Tensor boxes =
      at::tensor({1.0, 2.0, 13.0, 18.0, 4.0, 6.0, 20.0, 8.0}, at::kDouble).view({2, 4});
  const at::Tensor d = encode_boxes(anchors, boxes);
  // Box 0: centre (7, 10) vs (5, 10), size 12 x 16 vs 10 x 20.
  EXPECT_NEAR(d[0][0].item<double>(), 0.2, 1e-12);
  EXPECT_NEAR(d[0][1].item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(d[0][2].item<double>(), std::log(1.2), 1e-12);
  EXPECT_NEAR(d[0][3].item<double>(), std::log(0.8), 1e-12);
  EXPECT_TRUE(at::allclose(decode_boxes(anchors, d), boxes, 1e-12, 1e-12));
  // Huge log-ratios are clamped at |log(16 / 1000)|.
  const at::Tensor wild = at::tensor({0.0, 0.0, 10.0, 10.0}, at::kDouble).view({1, 4});
  const at::Tensor big = decode_boxes(anchors.narrow(0, 0, 1), wild);
  EXPECT_NEAR((big[0][2] - big[0][0]).item<double>(), 10 * 1000.0 / 16, 1e-9);
}

TEST(Anchors, BoxIouMatchesTheDefinition) {
  const at::Tensor a = at::tensor({0.0, 0.0, 10.0, 10.0}, at::kDouble).view({1, 4});
  const at::Tensor b =
      at::tensor({1.0, 1.0, 11.0, 10.0, 20.0, 20.0, 30.0, 30.0}, at::kDouble).view({2, 4});
  const at::Tensor iou = box_iou(a, b);
  EXPECT_NEAR(iou[0][0].item<double>(), 81.0 / 109.0, 1e-12);
  EXPECT_EQ(iou[0][1].item<double>(), 0.0);
}

}  // namespace
}  // namespace vitrine::models
