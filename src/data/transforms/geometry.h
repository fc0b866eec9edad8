// Crops, flips and resizes (torchvision / timm semantics).
#pragma once

#include <utility>

#include "data/transforms/image_transform.h"

namespace vitrine::data {

// torchvision RandomResizedCrop: up to 10 tries at a crop of area fraction U(scale) and
// log-uniform aspect ratio in `ratio` that fits; else the whole image center-cropped to the
// ratio range. The crop is resized to size x size.
class RandomResizedCrop : public ImageTransform {
 public:
  RandomResizedCrop(int size, std::pair<double, double> scale, std::pair<double, double> ratio,
                    Interpolation interpolation);
  cv::Mat apply(const cv::Mat& image, Rng& rng) const override;
  std::string describe() const override;
  // The crop box (x, y, width, height) for an image of width x height.
  cv::Rect sample_box(int width, int height, Rng& rng) const;

 private:
  int size_;
  std::pair<double, double> scale_, ratio_;
  Interpolation interpolation_;
};

// torchvision RandomCrop with zero padding on every side: pads by `padding`, then takes a
// size x size crop at a uniformly drawn offset.
class RandomCrop : public ImageTransform {
 public:
  RandomCrop(int size, int padding);
  cv::Mat apply(const cv::Mat& image, Rng& rng) const override;
  std::string describe() const override;

 private:
  int size_, padding_;
};

// torchvision's RandomHorizontalFlip(p), or alternating flips.
class HorizontalFlip : public ImageTransform {
 public:
  // `alternate`: instead of a draw per sample, each image is flipped in every other epoch,
  // starting flipped or not by a per-image coin from the run's seed (airbench's alternating
  // flip: every image is seen both ways within two epochs). Needs probability 0.5 and a
  // stream with a sample identity (the data loader's).
  explicit HorizontalFlip(double probability, bool alternate = false);
  cv::Mat apply(const cv::Mat& image, Rng& rng) const override;
  std::string describe() const override;

 private:
  double probability_;
  bool alternate_;
};

// torchvision Resize(int): the shorter side becomes `size`, the longer keeps the aspect
// ratio (truncated, as torchvision computes it).
class ResizeShorter : public ImageTransform {
 public:
  ResizeShorter(int size, Interpolation interpolation);
  cv::Mat apply(const cv::Mat& image, Rng& rng) const override;
  std::string describe() const override;

 private:
  int size_;
  Interpolation interpolation_;
};

// torchvision CenterCrop (zero-pads first when the image is smaller than the crop).
class CenterCrop : public ImageTransform {
 public:
  explicit CenterCrop(int size);
  cv::Mat apply(const cv::Mat& image, Rng& rng) const override;
  std::string describe() const override;

 private:
  int size_;
};

}  // namespace vitrine::data
