// timm's RandAugment, configured by its string spec ("rand-m9-mstd0.5-inc1"): each call picks
// `num_layers` ops uniformly with replacement; each op fires with probability `prob`, at a
// magnitude drawn from N(m, mstd) (uniform in [0, m] for mstd=inf) clipped to [0, mmax].
// "inc1" selects the variants whose strength increases with magnitude.
#pragma once

#include <string>
#include <vector>

#include "data/transforms/image_transform.h"

namespace vitrine::data {

struct RandAugmentSpec {
  int num_layers = 2;            // n
  double magnitude = 10;         // m
  double magnitude_std = 0;      // mstd
  double magnitude_max = 10;     // mmax
  bool increasing = false;       // inc
  double prob = 0.5;             // p
  std::vector<std::string> ops;  // the op names in play
};

// Parses timm's spec; throws ConfigError naming `key` for anything malformed.
RandAugmentSpec parse_rand_augment(const std::string& spec, const std::string& key);

// One RandAugment op at an explicit magnitude (the op's randomness, e.g. the sign of a
// rotation, drawn from rng). Public so tests can check each op.
cv::Mat rand_augment_op(const std::string& name, const cv::Mat& image, double magnitude, Rng& rng,
                        Interpolation interpolation, const cv::Scalar& fill);

class RandAugment : public ImageTransform {
 public:
  // `fill`: the colour for pixels uncovered by geometric ops (timm: the dataset mean, 0-255).
  RandAugment(RandAugmentSpec spec, Interpolation interpolation, cv::Scalar fill);
  cv::Mat apply(const cv::Mat& image, Rng& rng) const override;
  std::string describe() const override;

 private:
  RandAugmentSpec spec_;
  Interpolation interpolation_;
  cv::Scalar fill_;
};

}  // namespace vitrine::data
