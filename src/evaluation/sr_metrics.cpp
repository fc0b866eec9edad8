#include "evaluation/sr_metrics.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <limits>

namespace vitrine::evaluation {
namespace {

// cv2.getGaussianKernel(11, 1.5) outer itself, as a [1, 1, 11, 11] float64 filter.
at::Tensor gaussian_window() {
  const at::Tensor x = at::arange(11, at::kDouble) - 5.0;
  at::Tensor g = at::exp(-(x * x) / (2 * 1.5 * 1.5));
  g = g / g.sum();
  return at::outer(g, g).view({1, 1, 11, 11});
}

void check_image(const at::Tensor& image, const char* what) {
  TORCH_CHECK(image.dim() == 3, what, ": expected a [C, H, W] image, got shape ", image.sizes());
}

}  // namespace

at::Tensor rgb_to_y(const at::Tensor& rgb) {
  check_image(rgb, "rgb_to_y");
  TORCH_CHECK(rgb.size(0) == 3, "rgb_to_y: expected 3 channels, got ", rgb.size(0));
  const at::Tensor x = rgb.to(at::kDouble);
  return ((x[0] * 65.481 + x[1] * 128.553 + x[2] * 24.966 + 16.0) / 255.0).unsqueeze(0);
}

at::Tensor crop_border(const at::Tensor& image, int64_t border) {
  check_image(image, "crop_border");
  if (border <= 0) return image;
  TORCH_CHECK(image.size(1) > 2 * border && image.size(2) > 2 * border, "crop_border: a ",
              image.size(1), "x", image.size(2), " image has nothing left after cropping ", border,
              " pixels from each side");
  return image.narrow(1, border, image.size(1) - 2 * border)
      .narrow(2, border, image.size(2) - 2 * border);
}

at::Tensor quantize_to_uint8_levels(const at::Tensor& image) {
  return (image.to(at::kDouble).clamp(0.0, 1.0) * 255.0).round() / 255.0;
}

double psnr(const at::Tensor& a, const at::Tensor& b) {
  check_image(a, "psnr");
  TORCH_CHECK(a.sizes() == b.sizes(), "psnr: images differ in size: ", a.sizes(), " vs ",
              b.sizes());
  const double mse = (a.to(at::kDouble) - b.to(at::kDouble)).pow(2).mean().item<double>();
  if (mse == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(1.0 / mse);
}

double ssim(const at::Tensor& a, const at::Tensor& b) {
  check_image(a, "ssim");
  TORCH_CHECK(a.sizes() == b.sizes(), "ssim: images differ in size: ", a.sizes(), " vs ",
              b.sizes());
  TORCH_CHECK(a.size(1) >= 11 && a.size(2) >= 11, "ssim: needs at least 11x11 pixels, got ",
              a.size(1), "x", a.size(2));
  const double c1 = std::pow(0.01 * 255, 2), c2 = std::pow(0.03 * 255, 2);
  const at::Tensor window = gaussian_window();
  // Channels as a batch of one-channel maps, on the 0..255 scale.
  const at::Tensor x = a.to(at::kDouble).unsqueeze(1) * 255.0;
  const at::Tensor y = b.to(at::kDouble).unsqueeze(1) * 255.0;
  auto filter = [&](const at::Tensor& t) { return at::conv2d(t, window); };  // valid
  const at::Tensor mu1 = filter(x), mu2 = filter(y);
  const at::Tensor mu1_sq = mu1 * mu1, mu2_sq = mu2 * mu2, mu12 = mu1 * mu2;
  const at::Tensor s1 = filter(x * x) - mu1_sq, s2 = filter(y * y) - mu2_sq;
  const at::Tensor s12 = filter(x * y) - mu12;
  const at::Tensor map =
      ((2 * mu12 + c1) * (2 * s12 + c2)) / ((mu1_sq + mu2_sq + c1) * (s1 + s2 + c2));
  return map.mean({1, 2, 3}).mean().item<double>();
}

SrScore score_sr(const at::Tensor& sr, const at::Tensor& hr, int64_t border, bool y_channel,
                 bool quantize) {
  check_image(sr, "score_sr");
  TORCH_CHECK(sr.sizes() == hr.sizes(), "score_sr: the output is ", sr.sizes(),
              " but the ground truth is ", hr.sizes());
  at::Tensor out = quantize ? quantize_to_uint8_levels(sr) : sr.to(at::kDouble);
  at::Tensor gt = hr.to(at::kDouble);
  if (y_channel && out.size(0) == 3) {
    out = rgb_to_y(out);
    gt = rgb_to_y(gt);
  }
  out = crop_border(out, border);
  gt = crop_border(gt, border);
  return {psnr(out, gt), ssim(out, gt)};
}

}  // namespace vitrine::evaluation
