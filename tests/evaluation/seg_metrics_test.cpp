// Segmentation metrics on hand-worked label maps: dataset-level accumulation, ignore 255,
// classes with zero union out of the mean.
#include "evaluation/seg_metrics.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace vitrine::evaluation {
namespace {

at::Tensor map(std::vector<int64_t> v, int64_t h, int64_t w) {
  return torch::tensor(v, torch::kLong).view({h, w});
}

TEST(SegmentationMeter, AccumulatesOverTheDatasetAsMmseg) {
  SegmentationMeter meter(3);
  // Image 1: one ignored pixel; image 2: all class 2.
  meter.add(map({0, 1, 1, 1, 2, 0}, 2, 3), map({0, 0, 1, 1, 2, 255}, 2, 3));
  meter.add(map({2, 0, 0, 0}, 2, 2), map({2, 2, 2, 2}, 2, 2));
  // intersect [1, 2, 2], predicted [4, 3, 2], labelled [2, 2, 5], union [5, 3, 5].
  const auto iou = meter.iou(), acc = meter.acc();
  EXPECT_NEAR(iou[0], 1.0 / 5, 1e-12);
  EXPECT_NEAR(iou[1], 2.0 / 3, 1e-12);
  EXPECT_NEAR(iou[2], 2.0 / 5, 1e-12);
  EXPECT_NEAR(meter.miou(), (0.2 + 2.0 / 3 + 0.4) / 3, 1e-12);
  EXPECT_NEAR(acc[0], 0.5, 1e-12);
  EXPECT_NEAR(acc[1], 1.0, 1e-12);
  EXPECT_NEAR(acc[2], 0.4, 1e-12);
  EXPECT_NEAR(meter.macc(), (0.5 + 1.0 + 0.4) / 3, 1e-12);
  EXPECT_NEAR(meter.aacc(), 5.0 / 9, 1e-12);
  // Per-image averaging would give another number: class 2 has IoU 1 in image 1 and 1/4 in
  // image 2 (mean 0.625), but 2/5 over the dataset.
  EXPECT_GT(std::abs(iou[2] - (1.0 + 0.25) / 2), 0.2);
  EXPECT_NE(meter.table({"a", "b", "c"}).find("| b               | 66.67 | 100.00 |"),
            std::string::npos)
      << meter.table({"a", "b", "c"});
}

TEST(SegmentationMeter, ClassesWithoutUnionLeaveTheMean) {
  SegmentationMeter meter(4);
  meter.add(map({0, 1, 1, 0}, 2, 2), map({0, 1, 0, 0}, 2, 2));
  EXPECT_TRUE(std::isnan(meter.iou()[2]));
  EXPECT_TRUE(std::isnan(meter.iou()[3]));
  EXPECT_NEAR(meter.miou(), (2.0 / 3 + 1.0 / 2) / 2, 1e-12);
  // A class predicted but never labelled has a union: IoU 0, in the mean; Acc NaN.
  meter.add(map({3}, 1, 1), map({1}, 1, 1));
  EXPECT_EQ(meter.iou()[3], 0.0);
  EXPECT_TRUE(std::isnan(meter.acc()[3]));
  EXPECT_THROW(meter.add(map({0, 1}, 1, 2), map({0, 7}, 1, 2)), c10::Error);
  EXPECT_THROW(meter.add(map({0, 1}, 1, 2), map({0, 1, 1}, 1, 3)), c10::Error);
}

}  // namespace
}  // namespace vitrine::evaluation
