// BasicSR's PSNR/SSIM protocol against hand-worked values: the Y conversion, PSNR of identical
// images and of a known offset, SSIM's closed form for constant images and a per-window
// evaluation of its definition, border cropping and uint8 quantisation.
#include "evaluation/sr_metrics.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace vitrine::evaluation {
namespace {

TEST(SrMetrics, YChannelUsesBasicSrCoefficients) {
  // Pixels: white, black, (0.2, 0.4, 0.6).
  const at::Tensor y = rgb_to_y(
      at::stack({at::tensor({1.0, 0.0, 0.2}, at::kDouble), at::tensor({1.0, 0.0, 0.4}, at::kDouble),
                 at::tensor({1.0, 0.0, 0.6}, at::kDouble)})
          .view({3, 1, 3}));
  EXPECT_NEAR(y[0][0][0].item<double>(), 235.0 / 255.0, 1e-12);
  EXPECT_NEAR(y[0][0][1].item<double>(), 16.0 / 255.0, 1e-12);
  EXPECT_NEAR(y[0][0][2].item<double>(), (16 + 65.481 * 0.2 + 128.553 * 0.4 + 24.966 * 0.6) / 255,
              1e-12);
}

TEST(SrMetrics, PsnrOfIdenticalAndOffsetImages) {
  const at::Tensor a = at::rand({3, 20, 20}, at::kDouble) * 0.9;
  EXPECT_EQ(psnr(a, a), std::numeric_limits<double>::infinity());
  // A uniform RGB offset d moves Y by d * 219 / 255: PSNR = -20 log10 of that.
  const double d = 0.01;
  const SrScore s = score_sr(a + d, a, 0, /*y_channel=*/true, /*quantize=*/false);
  EXPECT_NEAR(s.psnr, -20 * std::log10(d * 219.0 / 255.0), 1e-9);
  EXPECT_NEAR(psnr(a + d, a), 40.0, 1e-9);  // RGB: 10 log10(1 / 1e-4)
}

TEST(SrMetrics, SsimOfConstantImagesHasItsClosedForm) {
  const double c1 = 0.3, c2 = 0.5, k1 = std::pow(0.01 * 255, 2);
  const at::Tensor a = at::full({1, 16, 16}, c1, at::kDouble);
  const at::Tensor b = at::full({1, 16, 16}, c2, at::kDouble);
  // Zero variances: only the luminance term remains.
  const double want = (2 * c1 * c2 * 255 * 255 + k1) / ((c1 * c1 + c2 * c2) * 255 * 255 + k1);
  EXPECT_NEAR(ssim(a, b), want, 1e-12);
  const at::Tensor r = at::rand({3, 15, 17}, at::kDouble);
  EXPECT_NEAR(ssim(r, r), 1.0, 1e-12);
}

TEST(SrMetrics, SsimMatchesItsDefinitionPerWindow) {
  const at::Tensor a = at::rand({1, 14, 13}, at::kDouble);
  const at::Tensor b = (a + at::randn({1, 14, 13}, at::kDouble) * 0.1).clamp(0, 1);
  double g[11], total = 0;
  for (int i = 0; i < 11; ++i) total += g[i] = std::exp(-(i - 5) * (i - 5) / (2 * 1.5 * 1.5));
  const double k1 = std::pow(0.01 * 255, 2), k2 = std::pow(0.03 * 255, 2);
  double sum = 0;
  int windows = 0;
  for (int y = 0; y + 11 <= 14; ++y)
    for (int x = 0; x + 11 <= 13; ++x) {
      double m1 = 0, m2 = 0, s11 = 0, s22 = 0, s12 = 0;
      for (int i = 0; i < 11; ++i)
        for (int j = 0; j < 11; ++j) {
          const double w = g[i] * g[j] / (total * total);
          const double p = a[0][y + i][x + j].item<double>() * 255;
          const double q = b[0][y + i][x + j].item<double>() * 255;
          m1 += w * p;
          m2 += w * q;
          s11 += w * p * p;
          s22 += w * q * q;
          s12 += w * p * q;
        }
      s11 -= m1 * m1;
      s22 -= m2 * m2;
      s12 -= m1 * m2;
      sum += (2 * m1 * m2 + k1) * (2 * s12 + k2) / ((m1 * m1 + m2 * m2 + k1) * (s11 + s22 + k2));
      ++windows;
    }
  EXPECT_EQ(windows, 12);
  EXPECT_NEAR(ssim(a, b), sum / windows, 1e-12);
}

TEST(SrMetrics, BorderCropAndQuantisation) {
  const at::Tensor hr = at::rand({3, 24, 24}, at::kDouble);
  at::Tensor sr = hr.clone();
  sr.narrow(1, 0, 4).fill_(0);  // wrong only inside a 4-pixel border
  EXPECT_LT(score_sr(sr, hr, 0, true, false).psnr, 30.0);
  EXPECT_EQ(score_sr(sr, hr, 4, true, false).psnr, std::numeric_limits<double>::infinity());
  // uint8 levels: clamp, x 255, round half to even (numpy's round), / 255.
  const at::Tensor q = quantize_to_uint8_levels(
      at::tensor({-0.1, 0.5, 1.5 / 255, 2.5 / 255, 1.2}, at::kDouble).view({1, 1, 5}));
  const double want[] = {0.0, 128.0 / 255, 2.0 / 255, 2.0 / 255, 1.0};
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(q[0][0][i].item<double>(), want[i], 1e-15) << i;
  EXPECT_THROW(crop_border(hr, 12), c10::Error);
}

}  // namespace
}  // namespace vitrine::evaluation
