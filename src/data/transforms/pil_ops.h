// Pixel operations with the exact arithmetic of the PIL functions timm's RandAugment and
// torchvision's ColorJitter call (ImageOps, ImageEnhance, Image.transform), so augmented
// images match the official training pipelines. Inputs are CV_8UC1 or CV_8UC3 (RGB).
#pragma once

#include <array>
#include <opencv2/core/mat.hpp>

namespace vitrine::data::pil {

cv::Mat auto_contrast(const cv::Mat& image);            // ImageOps.autocontrast(cutoff=0)
cv::Mat equalize(const cv::Mat& image);                 // ImageOps.equalize
cv::Mat invert(const cv::Mat& image);                   // ImageOps.invert
cv::Mat posterize(const cv::Mat& image, int bits);      // ImageOps.posterize, bits 0..8
cv::Mat solarize(const cv::Mat& image, int threshold);  // ImageOps.solarize
// timm's solarize_add: v + add (clipped) for v < threshold.
cv::Mat solarize_add(const cv::Mat& image, int add, int threshold);

// ImageEnhance: blend(degenerate, image, factor), truncating as PIL's Image.blend does.
cv::Mat color(const cv::Mat& image, double factor);       // degenerate: greyscale
cv::Mat contrast(const cv::Mat& image, double factor);    // degenerate: mean grey level
cv::Mat brightness(const cv::Mat& image, double factor);  // degenerate: black
cv::Mat sharpness(const cv::Mat& image, double factor);   // degenerate: ImageFilter.SMOOTH

// torchvision's adjust_hue on a PIL image: RGB -> HSV (PIL's 8-bit HSV), hue shifted by
// uint8(trunc(hue_factor * 255)) with wrap-around (numpy casting), back to RGB. hue_factor in
// [-0.5, 0.5].
cv::Mat adjust_hue(const cv::Mat& image, double hue_factor);

// Image.transform(size, AFFINE, coeffs, resample, fillcolor): output pixel (x, y) samples the
// input at (a x + b y + c, d x + e y + f) in PIL's coordinates (pixel centres at +0.5).
// `interpolation` is an OpenCV flag naming the filter (nearest, linear, cubic); the sampling
// itself is PIL's (its fixed-point nearest path, its bilinear/bicubic kernels and edge rules).
cv::Mat affine(const cv::Mat& image, const std::array<double, 6>& coeffs, int interpolation,
               const cv::Scalar& fill);
// Image.rotate(degrees, resample, fillcolor): counter-clockwise about the image centre, same
// size.
cv::Mat rotate(const cv::Mat& image, double degrees, int interpolation, const cv::Scalar& fill);

// PIL's RGB -> L conversion (ITU-R 601-2 luma, fixed point): (R*19595 + G*38470 + B*7471
// + 0x8000) >> 16. A grey image is returned as is.
cv::Mat to_grey(const cv::Mat& image);

}  // namespace vitrine::data::pil
