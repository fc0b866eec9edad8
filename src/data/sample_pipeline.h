// The per-sample path from decoded pixels to a normalised float tensor slice: image
// transforms (crop, flip, colour, RandAugment), normalisation, then RandomErasing on the
// normalised values (timm's order). Built from the `data` config for training or evaluation.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/view.h"
#include "data/transforms/image_transform.h"

namespace vitrine::data {

// timm's RandomErasing: with `probability`, up to `max_count` boxes of area fraction
// U(min_area, max_area) / count and log-uniform aspect in [min_aspect, 1/min_aspect], filled
// with per-pixel N(0,1) ("pixel"), per-channel N(0,1) ("rand") or zeros ("const").
struct RandomErasing {
  double probability = 0.25;
  std::string mode = "pixel";
  double min_area = 0.02, max_area = 1.0 / 3.0, min_aspect = 0.3;
  int min_count = 1, max_count = 1;
  // Erases in place in a normalised CHW float image.
  void apply(float* chw, int channels, int height, int width, Rng& rng) const;
};

class SamplePipeline {
 public:
  SamplePipeline(std::vector<ImageTransformPtr> transforms, std::vector<float> mean,
                 std::vector<float> std, std::optional<RandomErasing> erasing, int channels,
                 int height, int width);

  // Train pipeline from `data` (data.augment.*): crop (random_resized_crop | random_crop |
  // none), flip, colour jitter or RandAugment (timm disables colour jitter when RandAugment
  // is on), normalise, random erasing.
  static SamplePipeline train(const config::ConfigView& data);
  // Eval pipeline: resize the shorter side to floor(img_size / crop_pct), center crop.
  static SamplePipeline eval(const config::ConfigView& data);

  // Transforms `image`, checks it now has the pipeline's shape, and writes the normalised
  // CHW floats to `out` (channels * height * width values). Throws DataError on a shape that
  // does not fit.
  void run(const cv::Mat& image, Rng& rng, float* out) const;

  int channels() const { return channels_; }
  int height() const { return height_; }
  int width() const { return width_; }
  std::string describe() const;

 private:
  std::vector<ImageTransformPtr> transforms_;
  std::vector<float> mean_, std_;
  std::optional<RandomErasing> erasing_;
  int channels_, height_, width_;
};

}  // namespace vitrine::data
