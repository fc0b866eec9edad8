// torchvision ColorJitter on PIL images: brightness, contrast, saturation and hue factors
// drawn uniformly from [max(0, 1 - x), 1 + x] (hue from [-h, h]) and applied in a random order.
#pragma once

#include "data/transforms/image_transform.h"

namespace vitrine::data {

class ColorJitter : public ImageTransform {
 public:
  ColorJitter(double brightness, double contrast, double saturation, double hue);
  cv::Mat apply(const cv::Mat& image, Rng& rng) const override;
  std::string describe() const override;

 private:
  double brightness_, contrast_, saturation_, hue_;
};

}  // namespace vitrine::data
