// Per-sample image transforms on 8-bit pixels (timm / torchvision semantics), each drawing
// its randomness from the sample's own stream.
#pragma once

#include <memory>
#include <opencv2/core/mat.hpp>
#include <string>

#include "data/random.h"

namespace vitrine::data {

class ImageTransform {
 public:
  virtual ~ImageTransform() = default;
  // `image` is CV_8UC1 or CV_8UC3 (RGB); the result has the same type.
  virtual cv::Mat apply(const cv::Mat& image, Rng& rng) const = 0;
  virtual std::string describe() const = 0;
};
using ImageTransformPtr = std::shared_ptr<const ImageTransform>;

// Resampling filters. kRandom picks bilinear or bicubic per call (timm's 'random').
enum class Interpolation { kNearest, kBilinear, kBicubic, kRandom };

// "nearest" | "bilinear" | "bicubic" | "random"; throws ConfigError naming `key` otherwise.
Interpolation parse_interpolation(const std::string& name, const std::string& key);
std::string interpolation_name(Interpolation interpolation);
// The OpenCV flag for one call (draws from `rng` only for kRandom).
int cv_interpolation(Interpolation interpolation, Rng& rng);

}  // namespace vitrine::data
