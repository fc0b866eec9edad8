// MATLAB-compatible bicubic imresize against values worked by hand from MATLAB's definition
// (Keys cubic a = -0.5, antialiased taps when shrinking, mirrored edges), and its invariants.
#include "data/transforms/matlab_resize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <opencv2/core.hpp>

namespace vitrine::data {
namespace {

cv::Mat row(std::initializer_list<double> values) {
  cv::Mat m(1, static_cast<int>(values.size()), CV_64F);
  int i = 0;
  for (double v : values) m.at<double>(0, i++) = v;
  return m;
}

TEST(MatlabResize, ShrinkingARampMatchesHandWorkedValues) {
  // imresize(1:4, 0.5): u = 1.5 and 3.5, 10 taps of 0.5 * cubic(0.5 d), edges mirrored
  // [1 2 3 4 4 3 2 1]: 2.921875 / 2 and its mirror image.
  const cv::Mat out = matlab_imresize(row({1, 2, 3, 4}), 0.5);
  ASSERT_EQ(out.cols, 2);
  ASSERT_EQ(out.rows, 1);  // ceil(1 * 0.5)
  EXPECT_NEAR(out.at<double>(0, 0), 1.4609375, 1e-12);
  EXPECT_NEAR(out.at<double>(0, 1), 3.5390625, 1e-12);
}

TEST(MatlabResize, EnlargingARampMatchesHandWorkedValues) {
  // imresize(1:4, 2): u = i / 2 + 0.25; the first output mixes 2, 1, 1, 2 with weights
  // -0.0234375, 0.2265625, 0.8671875, -0.0703125.
  const cv::Mat out = matlab_imresize(row({1, 2, 3, 4}), 2.0);
  ASSERT_EQ(out.cols, 8);
  EXPECT_NEAR(out.at<double>(0, 0), 0.90625, 1e-12);
  EXPECT_NEAR(out.at<double>(0, 7), 5 - 0.90625, 1e-12);  // the ramp's symmetry
}

TEST(MatlabResize, KeepsConstantsAndSizesAndRoundsUint8LikeMatlab) {
  for (double scale : {0.25, 1.0 / 3, 0.5, 2.0, 3.0, 4.0}) {
    SCOPED_TRACE(scale);
    cv::Mat constant(10, 7, CV_32FC3, cv::Scalar(0.25, 0.5, 0.75));
    const cv::Mat out = matlab_imresize(constant, scale);
    EXPECT_EQ(out.rows, static_cast<int>(std::ceil(10 * scale)));
    EXPECT_EQ(out.cols, static_cast<int>(std::ceil(7 * scale)));
    EXPECT_EQ(out.type(), CV_32FC3);
    double lo, hi;
    cv::Mat channels[3];
    cv::split(out, channels);
    for (int c = 0; c < 3; ++c) {
      cv::minMaxLoc(channels[c], &lo, &hi);
      EXPECT_NEAR(lo, 0.25 * (c + 1), 1e-6);
      EXPECT_NEAR(hi, 0.25 * (c + 1), 1e-6);
    }
    const ResizeTaps taps = matlab_resize_taps(10, out.rows, scale);
    for (const auto& w : taps.weight) {
      double sum = 0;
      for (double v : w) sum += v;
      EXPECT_NEAR(sum, 1.0, 1e-12);
    }
  }
  // uint8: the float result rounded half away from zero, saturated.
  cv::Mat bytes(6, 6, CV_8UC1);
  cv::randu(bytes, 0, 256);
  cv::Mat as_double;
  bytes.convertTo(as_double, CV_64F);
  const cv::Mat exact = matlab_imresize(as_double, 0.5), rounded = matlab_imresize(bytes, 0.5);
  ASSERT_EQ(rounded.type(), CV_8UC1);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c)
      EXPECT_EQ(
          rounded.at<uint8_t>(r, c),
          static_cast<int>(std::min(255.0, std::max(0.0, std::round(exact.at<double>(r, c))))));
  EXPECT_THROW(matlab_imresize(bytes, 0), std::invalid_argument);
}

}  // namespace
}  // namespace vitrine::data
