// The detection pipeline's geometry against mmdetection's rules worked by hand.
#include "data/transforms/det_transforms.h"

#include <gtest/gtest.h>

namespace vitrine::data {
namespace {

TEST(DetTransforms, KeepRatioSizeFollowsMmcv) {
  // COCO-like 640 x 480 at (1333, 800): factor min(1333/640, 800/480) = 1.6667 -> 1067 x 800.
  EXPECT_EQ(keep_ratio_size(640, 480, 1333, 800), std::make_pair(1067, 800));
  // A wide 1000 x 200: the long edge binds, factor 1.333 -> 1333 x 267.
  EXPECT_EQ(keep_ratio_size(1000, 200, 1333, 800), std::make_pair(1333, 267));
}

TEST(DetTransforms, TargetsResizeFlipAndPad) {
  CocoAnnotation a, tiny, crowd, other;
  a.bbox = {10, 20, 30, 40};
  a.area = 1000;
  a.category_id = 5;
  tiny.bbox = {0, 0, 0.5, 10};
  tiny.area = 5;
  tiny.category_id = 5;
  crowd.bbox = {0, 0, 50, 50};
  crowd.area = 2500;
  crowd.iscrowd = true;
  crowd.category_id = 5;
  other.bbox = {1, 1, 5, 5};
  other.area = 25;
  other.category_id = 9;  // not a training category
  DetSample s;
  s.image = cv::Mat(100, 200, CV_8UC3, cv::Scalar(1, 2, 3));
  coco_targets({&a, &tiny, &crowd, &other}, {{1, 0}, {5, 1}}, s);
  ASSERT_EQ(s.boxes.size(), 1u);
  EXPECT_EQ(s.boxes[0], (Box{10, 20, 40, 60}));
  EXPECT_EQ(s.labels[0], 1);
  ASSERT_EQ(s.ignored.size(), 1u);

  resize_keep_ratio(s, 400, 150);  // factor min(2, 1.5) = 1.5 -> 300 x 150
  EXPECT_EQ(s.image.cols, 300);
  EXPECT_EQ(s.image.rows, 150);
  EXPECT_EQ(s.boxes[0], (Box{15, 30, 60, 90}));
  flip_horizontal(s);
  EXPECT_EQ(s.boxes[0], (Box{240, 30, 285, 90}));
  EXPECT_EQ(s.ignored[0], (Box{225, 0, 300, 75}));
  pad_to_multiple(s, 32);
  EXPECT_EQ(s.image.cols, 320);
  EXPECT_EQ(s.image.rows, 160);
  EXPECT_EQ(s.image.at<cv::Vec3b>(159, 319), cv::Vec3b(0, 0, 0));
  EXPECT_EQ(s.image.at<cv::Vec3b>(0, 0), cv::Vec3b(1, 2, 3));
}

}  // namespace
}  // namespace vitrine::data
