// Super-resolution metrics as BasicSR computes them for the paper tables (basicsr/metrics/
// psnr_ssim.py with test_y_channel and crop_border = scale):
//   Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255 on RGB in [0, 1];
//   PSNR = 10 log10(1 / MSE) on [0, 1] (infinite for identical images);
//   SSIM on Y * 255 in float64: 11 x 11 Gaussian window (sigma 1.5), valid positions only,
//   C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, the mean of the SSIM map.
// Images are [3, H, W] (or [1, H, W] already Y) float tensors in [0, 1].
#pragma once

#include <ATen/core/Tensor.h>

namespace vitrine::evaluation {

// RGB [3, H, W] in [0, 1] -> Y [1, H, W] in [16/255, 235/255] (float64).
at::Tensor rgb_to_y(const at::Tensor& rgb);
// Removes `border` pixels from each side of [C, H, W].
at::Tensor crop_border(const at::Tensor& image, int64_t border);
// The classic protocol's quantisation: clamp to [0, 1], scale to 0..255, round, scale back.
at::Tensor quantize_to_uint8_levels(const at::Tensor& image);

double psnr(const at::Tensor& a, const at::Tensor& b);  // [C, H, W] in [0, 1]
double ssim(const at::Tensor& a, const at::Tensor& b);  // [C, H, W] in [0, 1]; channel mean

struct SrScore {
  double psnr = 0, ssim = 0;
};
// The paper-table protocol for one image: optionally quantise the output, take Y (when
// `y_channel`), crop `border` pixels, then PSNR and SSIM. `sr` and `hr` must have equal sizes.
SrScore score_sr(const at::Tensor& sr, const at::Tensor& hr, int64_t border, bool y_channel,
                 bool quantize);

}  // namespace vitrine::evaluation
