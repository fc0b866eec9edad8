// Paired SR data in the real layouts (DIV2K, benchmark sets, Manga109's _LRBI_ names): pairing,
// on-the-fly MATLAB bicubic degradation, HR cropping to LR x scale, clear errors, and the
// training patch's HR/LR correspondence under flips and transposes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "data/dataset.h"
#include "data/sr/sr_pair_dataset.h"
#include "data/sr/synthetic_images.h"
#include "data/transforms/matlab_resize.h"

namespace vitrine::data {
namespace {
namespace fs = std::filesystem;

class SrData : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("vitrine_sr_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "HR");
    fs::create_directories(dir_ / "LR");
  }
  void TearDown() override { fs::remove_all(dir_); }

  static void write_rgb(const fs::path& path, const cv::Mat& rgb) {
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    ASSERT_TRUE(cv::imwrite(path.string(), bgr));
  }
  static bool same(const cv::Mat& a, const cv::Mat& b) {
    return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0;
  }

  fs::path dir_;
};

TEST_F(SrData, PairsByTheLayoutsNamesAndCropsHrToLrTimesScale) {
  // HR 66x66 with a 16x16 LR: the HR image is cropped to 64x64.
  const cv::Mat hr = synthetic_sr_image(66, 1, 0), lr = synthetic_sr_image(16, 1, 1);
  write_rgb(dir_ / "HR" / "0001.png", hr);
  write_rgb(dir_ / "LR" / "0001x4.png", lr);
  write_rgb(dir_ / "HR" / "AisazuNihaIrarenai.png", synthetic_sr_image(64, 1, 2));
  write_rgb(dir_ / "LR" / "AisazuNihaIrarenai_LRBI_x4.png", synthetic_sr_image(16, 1, 3));
  SrPairOptions o;
  o.hr_dir = (dir_ / "HR").string();
  o.lr_dir = (dir_ / "LR").string();
  SrPairDataset data(o);
  ASSERT_EQ(data.size(), 2);
  EXPECT_EQ(data.name(0), "0001");
  EXPECT_EQ(fs::path(data.lr_path(1)).filename(), "AisazuNihaIrarenai_LRBI_x4.png");
  const SrPair pair = data.get(0);
  EXPECT_TRUE(same(pair.lr, lr));
  EXPECT_TRUE(same(pair.hr, hr(cv::Rect(0, 0, 64, 64))));

  // A missing LR file is an error naming the image and what was tried.
  write_rgb(dir_ / "HR" / "baby.png", synthetic_sr_image(32, 1, 4));
  try {
    SrPairDataset missing(o);
    FAIL() << "no error for baby's missing LR image";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("'baby'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("babyx4"), std::string::npos) << e.what();
  }
  // An LR image too large for its HR image.
  write_rgb(dir_ / "LR" / "babyx4.png", synthetic_sr_image(9, 1, 5));
  SrPairDataset oversized(o);
  EXPECT_THROW(oversized.get(2), DataError);
}

TEST_F(SrData, DegradesOnTheFlyWithMatlabBicubic) {
  const cv::Mat hr = synthetic_sr_image(50, 2, 0);  // mod-cropped to 48
  write_rgb(dir_ / "HR" / "x.png", hr);
  SrPairOptions o;
  o.hr_dir = (dir_ / "HR").string();
  o.scale = 3;
  const SrPair pair = SrPairDataset(o).get(0);
  EXPECT_TRUE(same(pair.hr, hr(cv::Rect(0, 0, 48, 48))));
  EXPECT_TRUE(same(pair.lr, matlab_imresize(hr(cv::Rect(0, 0, 48, 48)).clone(), 1.0 / 3)));
  EXPECT_EQ(pair.lr.rows, 16);
}

TEST_F(SrData, TrainingPatchesKeepHrAndLrAligned) {
  // HR = LR enlarged by pixel replication, so any aligned pair satisfies that relation.
  SrPair pair;
  pair.lr = synthetic_sr_image(20, 3, 0);
  cv::resize(pair.lr, pair.hr, cv::Size(80, 80), 0, 0, cv::INTER_NEAREST);
  Rng rng(11);
  int flipped = 0;
  for (int i = 0; i < 40; ++i) {
    const SrPair patch = random_sr_patch(pair, 8, 4, rng);
    ASSERT_EQ(patch.lr.rows, 8);
    ASSERT_EQ(patch.hr.rows, 32);
    cv::Mat enlarged;
    cv::resize(patch.lr, enlarged, cv::Size(32, 32), 0, 0, cv::INTER_NEAREST);
    EXPECT_TRUE(same(enlarged, patch.hr)) << "patch " << i;
    // Count patches that are not a plain crop of the LR image anywhere (flipped/transposed).
    bool plain = false;
    for (int y = 0; y + 8 <= 20 && !plain; ++y)
      for (int x = 0; x + 8 <= 20 && !plain; ++x)
        plain = same(pair.lr(cv::Rect(x, y, 8, 8)), patch.lr);
    flipped += plain ? 0 : 1;
  }
  EXPECT_GT(flipped, 20);  // 7/8 of the patches are flipped or transposed
  EXPECT_THROW(random_sr_patch(pair, 24, 4, rng), DataError);
}

}  // namespace
}  // namespace vitrine::data
