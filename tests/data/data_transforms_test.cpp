// Image transforms against known outputs: the PIL ops against PIL's own results
// (tests/fixtures/augment, from tools/make_augment_reference.py), crops/flips against
// hand-computed pixels, RandAugment's spec parsing, seeded determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <string>

#include "config/view.h"
#include "config/yaml_io.h"
#include "core/error.h"
#include "data/dataset.h"
#include "data/sample_pipeline.h"
#include "data/transforms/color_jitter.h"
#include "data/transforms/geometry.h"
#include "data/transforms/pil_ops.h"
#include "data/transforms/rand_augment.h"

namespace vitrine::data {
namespace {

const std::string kFixtures = VITRINE_TEST_FIXTURES "/augment/";

cv::Mat load_rgb(const std::string& name) {
  cv::Mat bgr = cv::imread(kFixtures + name + ".png", cv::IMREAD_COLOR);
  EXPECT_FALSE(bgr.empty()) << "missing fixture " << name;
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

// Largest absolute difference and the fraction of differing values.
std::pair<int, double> compare(const cv::Mat& a, const cv::Mat& b) {
  EXPECT_EQ(a.size(), b.size());
  EXPECT_EQ(a.type(), b.type());
  cv::Mat diff;
  cv::absdiff(a, b, diff);
  double max_value = 0;
  cv::minMaxLoc(diff.reshape(1), nullptr, &max_value);
  const double differing = static_cast<double>(cv::countNonZero(diff.reshape(1))) /
                           static_cast<double>(diff.total() * diff.channels());
  return {static_cast<int>(max_value), differing};
}

struct PilCase {
  std::string fixture;
  std::function<cv::Mat(const cv::Mat&)> op;
};

class PilExact : public ::testing::TestWithParam<PilCase> {};

TEST_P(PilExact, MatchesPilBitForBit) {
  const cv::Mat input = load_rgb("input");
  const cv::Mat expected = load_rgb(GetParam().fixture);
  const auto [max_diff, fraction] = compare(GetParam().op(input), expected);
  EXPECT_EQ(max_diff, 0) << GetParam().fixture << ": " << fraction * 100 << "% of values differ";
}

INSTANTIATE_TEST_SUITE_P(
    PointAndEnhanceOps, PilExact,
    ::testing::Values(
        PilCase{"autocontrast", [](const cv::Mat& m) { return pil::auto_contrast(m); }},
        PilCase{"equalize", [](const cv::Mat& m) { return pil::equalize(m); }},
        PilCase{"invert", [](const cv::Mat& m) { return pil::invert(m); }},
        PilCase{"posterize2", [](const cv::Mat& m) { return pil::posterize(m, 2); }},
        PilCase{"solarize128", [](const cv::Mat& m) { return pil::solarize(m, 128); }},
        PilCase{"solarize_add50", [](const cv::Mat& m) { return pil::solarize_add(m, 50, 128); }},
        PilCase{"color0.3", [](const cv::Mat& m) { return pil::color(m, 0.3); }},
        PilCase{"color1.7", [](const cv::Mat& m) { return pil::color(m, 1.7); }},
        PilCase{"contrast0.4", [](const cv::Mat& m) { return pil::contrast(m, 0.4); }},
        PilCase{"contrast1.6", [](const cv::Mat& m) { return pil::contrast(m, 1.6); }},
        PilCase{"brightness0.5", [](const cv::Mat& m) { return pil::brightness(m, 0.5); }},
        PilCase{"brightness1.5", [](const cv::Mat& m) { return pil::brightness(m, 1.5); }},
        PilCase{"sharpness0.2", [](const cv::Mat& m) { return pil::sharpness(m, 0.2); }},
        PilCase{"sharpness1.8", [](const cv::Mat& m) { return pil::sharpness(m, 1.8); }},
        PilCase{"hue0.2", [](const cv::Mat& m) { return pil::adjust_hue(m, 0.2); }},
        PilCase{"hue-0.3", [](const cv::Mat& m) { return pil::adjust_hue(m, -0.3); }}),
    [](const ::testing::TestParamInfo<PilCase>& info) {
      std::string name = info.param.fixture;
      for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return name;
    });

const cv::Scalar kFill(124, 116, 104);

TEST(PilGeometry, NearestNeighbourAffineMatchesPil) {
  const cv::Mat input = load_rgb("input");
  const auto shear = compare(pil::affine(input, {1, 0.2, 0, 0, 1, 0}, cv::INTER_NEAREST, kFill),
                             load_rgb("shearx0.2_nearest"));
  EXPECT_EQ(shear.first, 0) << shear.second * 100 << "% differ";
  const auto shift = compare(pil::affine(input, {1, 0, 5, 0, 1, 0}, cv::INTER_NEAREST, kFill),
                             load_rgb("translatex5_nearest"));
  EXPECT_EQ(shift.first, 0);
  const auto quarter =
      compare(pil::rotate(input, -90, cv::INTER_NEAREST, kFill), load_rgb("rotate-90_nearest"));
  EXPECT_EQ(quarter.first, 0);
}

TEST(PilGeometry, BilinearAffineMatchesPil) {
  const cv::Mat input = load_rgb("input");
  const auto shear = compare(pil::affine(input, {1, 0, 0, -0.25, 1, 0}, cv::INTER_LINEAR, kFill),
                             load_rgb("sheary-0.25_bilinear"));
  EXPECT_EQ(shear.first, 0) << shear.second * 100 << "% differ";
  const auto rotated =
      compare(pil::rotate(input, 17, cv::INTER_LINEAR, kFill), load_rgb("rotate17_bilinear"));
  EXPECT_EQ(rotated.first, 0) << rotated.second * 100 << "% differ";
}

TEST(PilGeometry, BicubicAffineMatchesPil) {
  const cv::Mat input = load_rgb("input");
  const auto rotated =
      compare(pil::rotate(input, -23, cv::INTER_CUBIC, kFill), load_rgb("rotate-23_bicubic"));
  EXPECT_EQ(rotated.first, 0) << rotated.second * 100 << "% differ";
  const auto shear = compare(pil::affine(input, {1, 0.15, 0, 0, 1, 0}, cv::INTER_CUBIC, kFill),
                             load_rgb("shearx0.15_bicubic"));
  EXPECT_EQ(shear.first, 0) << shear.second * 100 << "% differ";
}

TEST(PilOps, GreyImagesWork) {
  cv::Mat grey(4, 4, CV_8UC1);
  for (int i = 0; i < 16; ++i) grey.at<uint8_t>(i / 4, i % 4) = static_cast<uint8_t>(i * 16);
  EXPECT_EQ(pil::invert(grey).at<uint8_t>(1, 1), 255 - 80);
  EXPECT_EQ(pil::posterize(grey, 1).at<uint8_t>(2, 0), 128);     // 128 & 0x80
  EXPECT_EQ(pil::brightness(grey, 0.5).at<uint8_t>(3, 3), 120);  // trunc(240 * 0.5)
  // autocontrast stretches 0..240 to 0..255: 80 -> int(80 * 255 / 240) = 85.
  EXPECT_EQ(pil::auto_contrast(grey).at<uint8_t>(1, 1), 85);
}

cv::Mat ramp(int width, int height, int channels) {
  cv::Mat m(height, width, channels == 1 ? CV_8UC1 : CV_8UC3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c)
        m.ptr<uint8_t>(y)[x * channels + c] = static_cast<uint8_t>((x * 9 + y * 31 + c * 50) % 256);
  return m;
}

bool same(const cv::Mat& a, const cv::Mat& b) {
  if (a.size() != b.size() || a.type() != b.type()) return false;
  cv::Mat diff;
  cv::absdiff(a, b, diff);
  return cv::countNonZero(diff.reshape(1)) == 0;
}

TEST(Geometry, FlipMirrorsOrKeeps) {
  const cv::Mat image = ramp(5, 3, 3);
  Rng rng(1);
  const cv::Mat flipped = HorizontalFlip(1.0).apply(image, rng);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 5; ++x)
      EXPECT_EQ(flipped.at<cv::Vec3b>(y, x), image.at<cv::Vec3b>(y, 4 - x));
  EXPECT_TRUE(same(HorizontalFlip(0.0).apply(image, rng), image));
}

TEST(Geometry, CenterCropUsesTorchvisionRounding) {
  const cv::Mat image = ramp(29, 28, 1);
  Rng rng(1);
  const cv::Mat crop = CenterCrop(24).apply(image, rng);
  // top = round((28 - 24) / 2) = 2; left = round((29 - 24) / 2) = round(2.5) = 2 (half to even).
  EXPECT_TRUE(same(crop, image(cv::Rect(2, 2, 24, 24))));
  // Smaller than the crop: zero-padded around the image.
  const cv::Mat padded = CenterCrop(8).apply(ramp(4, 4, 1), rng);
  EXPECT_EQ(padded.at<uint8_t>(0, 0), 0);
  EXPECT_EQ(padded.at<uint8_t>(2, 2), ramp(4, 4, 1).at<uint8_t>(0, 0));
}

TEST(Geometry, ResizeShorterKeepsAspect) {
  Rng rng(1);
  const cv::Mat out = ResizeShorter(10, Interpolation::kBilinear).apply(ramp(45, 20, 3), rng);
  EXPECT_EQ(out.rows, 10);
  EXPECT_EQ(out.cols, 22);  // int(10 * 45 / 20)
}

TEST(Geometry, RandomCropIsAWindowOfThePaddedImage) {
  const cv::Mat image = ramp(10, 10, 1);
  cv::Mat padded;
  cv::copyMakeBorder(image, padded, 2, 2, 2, 2, cv::BORDER_CONSTANT, cv::Scalar::all(0));
  Rng rng(7);
  std::set<std::pair<int, int>> offsets;
  for (int trial = 0; trial < 200; ++trial) {
    const cv::Mat crop = RandomCrop(10, 2).apply(image, rng);
    bool found = false;
    for (int y = 0; y <= 4 && !found; ++y)
      for (int x = 0; x <= 4 && !found; ++x)
        if (same(crop, padded(cv::Rect(x, y, 10, 10)))) {
          found = true;
          offsets.insert({x, y});
        }
    ASSERT_TRUE(found);
  }
  EXPECT_EQ(offsets.size(), 25u);  // every offset in [0, 4]^2 occurs
}

TEST(Geometry, RandomResizedCropBoxesRespectScaleAndRatio) {
  const RandomResizedCrop rrc(16, {0.25, 0.8}, {0.5, 2.0}, Interpolation::kBilinear);
  Rng rng(3);
  for (int trial = 0; trial < 500; ++trial) {
    const cv::Rect box = rrc.sample_box(64, 48, rng);
    ASSERT_GE(box.x, 0);
    ASSERT_GE(box.y, 0);
    ASSERT_LE(box.x + box.width, 64);
    ASSERT_LE(box.y + box.height, 48);
    const double area = static_cast<double>(box.area()) / (64 * 48);
    const double ratio = static_cast<double>(box.width) / box.height;
    // Rounding w and h to whole pixels moves area and ratio a little past the ranges.
    EXPECT_GT(area, 0.25 * 0.9);
    EXPECT_LT(area, 0.8 * 1.1);
    EXPECT_GT(ratio, 0.5 * 0.9);
    EXPECT_LT(ratio, 2.0 * 1.1);
  }
  // Whole-image scale and ratio 1: the crop is the image itself.
  const RandomResizedCrop whole(12, {1.0, 1.0}, {1.0, 1.0}, Interpolation::kBilinear);
  const cv::Mat image = ramp(12, 12, 3);
  EXPECT_TRUE(same(whole.apply(image, rng), image));
  // Impossible ratio: torchvision's fallback, the centered crop clamped to the ratio range.
  const RandomResizedCrop narrow(8, {0.9, 1.0}, {2.0, 3.0}, Interpolation::kBilinear);
  const cv::Rect fallback = narrow.sample_box(20, 20, rng);
  EXPECT_EQ(fallback, cv::Rect(0, 5, 20, 10));  // w = 20, h = round(20 / 2)
}

TEST(RandAugmentSpec, ParsesTimmStrings) {
  const RandAugmentSpec spec = parse_rand_augment("rand-m9-mstd0.5-inc1", "aa");
  EXPECT_EQ(spec.num_layers, 2);
  EXPECT_DOUBLE_EQ(spec.magnitude, 9);
  EXPECT_DOUBLE_EQ(spec.magnitude_std, 0.5);
  EXPECT_TRUE(spec.increasing);
  EXPECT_DOUBLE_EQ(spec.prob, 0.5);
  ASSERT_EQ(spec.ops.size(), 15u);
  EXPECT_EQ(spec.ops[4], "PosterizeIncreasing");
  const RandAugmentSpec plain = parse_rand_augment("rand-n3-m5-mstd101-mmax8", "aa");
  EXPECT_EQ(plain.num_layers, 3);
  EXPECT_TRUE(std::isinf(plain.magnitude_std));  // timm: mstd > 100 means uniform
  EXPECT_DOUBLE_EQ(plain.magnitude_max, 8);
  EXPECT_EQ(plain.ops[4], "Posterize");
  EXPECT_THROW(parse_rand_augment("augmix-m5", "data.augment.auto_augment"), ConfigError);
  EXPECT_THROW(parse_rand_augment("rand-q4", "aa"), ConfigError);
  EXPECT_THROW(parse_rand_augment("rand-mx", "aa"), ConfigError);
}

TEST(RandAugment, OpsAtKnownMagnitudesMatchTheirDefinitions) {
  const cv::Mat input = load_rgb("input");
  Rng rng(5);
  // PosterizeIncreasing at m=5: 4 - int(0.5 * 4) = 2 bits; SolarizeIncreasing at m=5:
  // threshold 256 - 128 = 128; SolarizeAdd at m=5: add int(0.5 * 110) = 55 below 128.
  EXPECT_TRUE(
      same(rand_augment_op("PosterizeIncreasing", input, 5, rng, Interpolation::kNearest, kFill),
           load_rgb("posterize2")));
  EXPECT_TRUE(
      same(rand_augment_op("SolarizeIncreasing", input, 5, rng, Interpolation::kNearest, kFill),
           load_rgb("solarize128")));
  EXPECT_TRUE(same(rand_augment_op("SolarizeAdd", input, 5, rng, Interpolation::kNearest, kFill),
                   pil::solarize_add(input, 55, 128)));
  // Non-increasing Brightness at m=10: factor 1.9; increasing at m=0: factor exactly 1.
  EXPECT_TRUE(same(rand_augment_op("Brightness", input, 10, rng, Interpolation::kNearest, kFill),
                   pil::brightness(input, 1.9)));
  EXPECT_TRUE(
      same(rand_augment_op("BrightnessIncreasing", input, 0, rng, Interpolation::kNearest, kFill),
           input));
  // ShearX at m=10 is +-0.3; both signs occur.
  const cv::Mat plus = pil::affine(input, {1, 0.3, 0, 0, 1, 0}, cv::INTER_NEAREST, kFill);
  const cv::Mat minus = pil::affine(input, {1, -0.3, 0, 0, 1, 0}, cv::INTER_NEAREST, kFill);
  int positive = 0, negative = 0;
  for (int i = 0; i < 40; ++i) {
    const cv::Mat out = rand_augment_op("ShearX", input, 10, rng, Interpolation::kNearest, kFill);
    positive += same(out, plus);
    negative += same(out, minus);
  }
  EXPECT_EQ(positive + negative, 40);
  EXPECT_GT(positive, 5);
  EXPECT_GT(negative, 5);
  EXPECT_THROW(rand_augment_op("Cutout", input, 5, rng, Interpolation::kNearest, kFill),
               ConfigError);
}

TEST(RandAugment, SameSeedSameImageAndOpsActuallyChangeIt) {
  const cv::Mat input = load_rgb("input");
  const RandAugment aug(parse_rand_augment("rand-m9-mstd0.5-inc1", "aa"), Interpolation::kBicubic,
                        kFill);
  int changed = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Rng a(seed), b(seed);
    const cv::Mat x = aug.apply(input, a), y = aug.apply(input, b);
    EXPECT_TRUE(same(x, y));
    changed += !same(x, input);
  }
  // Two ops at p=0.5 each: ~75% of calls change the image.
  EXPECT_GT(changed, 8);
}

TEST(ColorJitter, BrightnessOnlyScalesByAFactorInRange) {
  const cv::Mat input = load_rgb("input");
  const ColorJitter jitter(0.4, 0, 0, 0);
  Rng rng(11);
  for (int trial = 0; trial < 10; ++trial) {
    const cv::Mat out = jitter.apply(input, rng);
    // brightness(f) sends every value v to trunc(v * f) (clipped at 255): each pixel bounds
    // f to [o / v, (o + 1) / v); the bounds must agree and lie in [1 - 0.4, 1 + 0.4].
    double lo = 0, hi = 10;
    const cv::Mat in1 = input.reshape(1), out1 = out.reshape(1);
    for (int i = 0; i < static_cast<int>(in1.total()); ++i) {
      const double v = in1.at<uint8_t>(i), o = out1.at<uint8_t>(i);
      if (v == 0 || o == 255) continue;
      lo = std::max(lo, o / v);
      hi = std::min(hi, (o + 1) / v);
    }
    ASSERT_LT(lo, hi) << "trial " << trial;
    EXPECT_GE(hi, 0.6);
    EXPECT_LE(lo, 1.4);
    const bool matched = same(out, pil::brightness(input, (lo + hi) / 2));
    EXPECT_TRUE(matched) << "trial " << trial;
  }
  Rng rng2(1);
  EXPECT_TRUE(same(ColorJitter(0, 0, 0, 0).apply(input, rng2), input));
  EXPECT_THROW(ColorJitter(0, 0, 0, 0.7), ConfigError);
}

TEST(RandomErasingTest, ErasesOneBoxWithinTheAreaBounds) {
  RandomErasing erasing;
  erasing.probability = 1.0;
  erasing.mode = "const";
  const int c = 3, h = 32, w = 32;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    std::vector<float> image(c * h * w, 1.0f);
    Rng rng(seed);
    erasing.apply(image.data(), c, h, w, rng);
    int zeros = 0;
    for (float v : image) zeros += v == 0.0f;
    ASSERT_EQ(zeros % c, 0);
    const double fraction = static_cast<double>(zeros / c) / (h * w);
    EXPECT_GE(fraction, 0.02 * 0.7);
    EXPECT_LE(fraction, 1.0 / 3.0 * 1.3);
    EXPECT_GT(zeros, 0);
  }
  erasing.probability = 0.0;
  std::vector<float> untouched(c * h * w, 1.0f);
  Rng rng(1);
  erasing.apply(untouched.data(), c, h, w, rng);
  for (float v : untouched) ASSERT_EQ(v, 1.0f);
}

TEST(SamplePipelineTest, NormalisesAndChecksTheOutputSize) {
  const SamplePipeline pipeline({}, {0.5f}, {0.25f}, std::nullopt, 1, 2, 2);
  cv::Mat image = (cv::Mat_<uint8_t>(2, 2) << 0, 255, 51, 204);
  std::vector<float> out(4);
  Rng rng(1);
  pipeline.run(image, rng, out.data());
  EXPECT_FLOAT_EQ(out[0], -2.0f);  // (0 - 0.5) / 0.25
  EXPECT_FLOAT_EQ(out[1], 2.0f);
  EXPECT_NEAR(out[2], (0.2f - 0.5f) / 0.25f, 1e-6);
  cv::Mat wrong(3, 3, CV_8UC1, cv::Scalar(0));
  EXPECT_THROW(pipeline.run(wrong, rng, out.data()), DataError);
  EXPECT_THROW(SamplePipeline({}, {0.5f, 0.5f}, {0.25f}, std::nullopt, 1, 2, 2), ConfigError);
}

// data.train_crop_size: the training pipeline crops to its own side (torchvision's
// --train-crop-size) while evaluation keeps img_size; it needs a crop to get there.
TEST(SamplePipelineTest, TrainCropSizeCropsTrainingImagesOnly) {
  const std::string base =
      "img_size: 28\nin_chans: 1\ninterpolation: bilinear\ncrop_pct: 1.0\nmean: [0.5]\n"
      "std: [0.5]\n";
  const std::string augment =
      "augment: {crop: random_crop, crop_padding: 0, hflip: 0.0, auto_augment: null, "
      "reprob: 0.0}\n";
  const config::ConfigView data(config::load_yaml(base + "train_crop_size: 24\n" + augment, "t"),
                                "data");
  const SamplePipeline train = SamplePipeline::train(data);
  const SamplePipeline eval = SamplePipeline::eval(data);
  EXPECT_EQ(train.height(), 24);
  EXPECT_EQ(train.width(), 24);
  EXPECT_EQ(eval.height(), 28);
  // The 24x24 window is a crop of the image, not a resize: every output pixel is one of the
  // image's, and the crop's top-left pixel comes from the top-left 5x5 corner.
  cv::Mat image(28, 28, CV_8UC1);
  for (int y = 0; y < 28; ++y)
    for (int x = 0; x < 28; ++x) image.at<uint8_t>(y, x) = static_cast<uint8_t>(y * 8 + x);
  std::vector<float> out(24 * 24);
  Rng rng(5);
  train.run(image, rng, out.data());
  const int first = static_cast<int>(std::lround(out[0] * 0.5f * 255.0f + 127.5f));
  EXPECT_LT(first % 8, 5);
  EXPECT_LT(first / 8, 5);
  const int next = static_cast<int>(std::lround(out[1] * 0.5f * 255.0f + 127.5f));
  EXPECT_EQ(next, first + 1);
  const int below = static_cast<int>(std::lround(out[24] * 0.5f * 255.0f + 127.5f));
  EXPECT_EQ(below, first + 8);
  // Null means img_size; without a crop the size cannot be reached.
  EXPECT_EQ(SamplePipeline::train(
                config::ConfigView(
                    config::load_yaml(base + "train_crop_size: null\n" + augment, "t"), "data"))
                .height(),
            28);
  const std::string no_crop =
      "augment: {crop: none, hflip: 0.0, auto_augment: null, reprob: 0.0}\n";
  EXPECT_THROW(SamplePipeline::train(config::ConfigView(
                   config::load_yaml(base + "train_crop_size: 24\n" + no_crop, "t"), "data")),
               ConfigError);
  EXPECT_THROW(SamplePipeline::train(config::ConfigView(
                   config::load_yaml(base + "train_crop_size: 0\n" + augment, "t"), "data")),
               ConfigError);
}

// data.augment.hflip_mode: random (a draw per image) or alternate (every other epoch), the
// latter only at p = 0.5 (or 0: off); anything else is refused naming the key.
TEST(SamplePipelineTest, FlipModeIsRandomOrAlternateAtOneHalf) {
  const auto pipeline = [](const std::string& flip) {
    return SamplePipeline::train(config::ConfigView(
        config::load_yaml("img_size: 4\nin_chans: 1\ninterpolation: bilinear\ncrop_pct: 1.0\n"
                          "mean: [0.5]\nstd: [0.5]\naugment: {crop: none, auto_augment: null, "
                          "reprob: 0.0, " +
                              flip + "}\n",
                          "t"),
        "data"));
  };
  EXPECT_NE(pipeline("hflip: 0.5").describe().find("RandomHorizontalFlip"), std::string::npos);
  EXPECT_NE(pipeline("hflip: 0.5, hflip_mode: random").describe().find("RandomHorizontalFlip"),
            std::string::npos);
  EXPECT_NE(pipeline("hflip: 0.5, hflip_mode: alternate").describe().find("Alternating"),
            std::string::npos);
  // hflip: 0 switches flips off in either mode.
  EXPECT_EQ(pipeline("hflip: 0.0, hflip_mode: alternate").describe().find("Flip"),
            std::string::npos);
  for (const char* bad : {"hflip: 0.3, hflip_mode: alternate", "hflip: 0.5, hflip_mode: always"})
    try {
      pipeline(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("data.augment.hflip"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace vitrine::data
