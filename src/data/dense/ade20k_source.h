// Semantic segmentation samples in ADE20K's layout (data.format: ade20k):
//   ROOT/images/{training,validation}/*.jpg, ROOT/annotations/{training,validation}/*.png
// (same stem, 8-bit label maps). mmsegmentation's ADE20K pipeline:
//   training: LoadAnnotations(reduce_zero_label: 0 -> 255 ignored, others - 1) ->
//   Resize(img_scale (2048, 512), ratio_range (0.5, 2.0), keep ratio; image bilinear, label
//   nearest) -> RandomCrop(512 x 512, cat_max_ratio 0.75: up to 10 draws until no class
//   covers 75% of the crop's labelled pixels) -> RandomFlip(0.5) -> PhotoMetricDistortion
//   (brightness 32, contrast/saturation [0.5, 1.5], hue 18, each with probability 0.5, on
//   8-bit pixels) -> Normalize -> Pad to the crop size (image 0, label 255);
//   evaluation: the image resized to img_scale keeping the ratio and normalised; the label
//   at the original size (metrics are computed there).
#pragma once

#include <array>
#include <string>
#include <vector>

#include "data/dense/normalised_image.h"
#include "data/sample_source.h"

namespace vitrine::data {

struct Ade20kOptions {
  std::string image_dir, annotation_dir;
  bool train = true;
  int scale_long = 2048, scale_short = 512;
  double ratio_min = 0.5, ratio_max = 2.0;
  int crop_h = 512, crop_w = 512;
  double cat_max_ratio = 0.75;
  double flip = 0.5;
  bool photometric = true;
  bool reduce_zero_label = true;
  ChannelStats mean{123.675, 116.28, 103.53}, std{58.395, 57.12, 57.375};
};

// Sample::meta of segmentation samples.
enum SegMeta : int64_t {
  kSegResizedHeight = 0,  // the image before padding
  kSegResizedWidth,
  kSegOriginalHeight,  // the label map's (evaluation) or the image's (training) size
  kSegOriginalWidth,
  kSegMetaSize
};

class Ade20kSource : public SampleSource {
 public:
  explicit Ade20kSource(Ade20kOptions options);
  int64_t size() const override { return static_cast<int64_t>(stems_.size()); }
  std::string source(int64_t index) const override;
  // image [3, H, W] normalised; target [1, H', W'] float label ids (255 ignored); meta as
  // SegMeta. Training: H = H' = the crop; evaluation: the resized image, the original label.
  Sample load(int64_t index, Rng& rng) const override;
  std::string describe() const override;
  bool pads_batches() const override { return true; }
  double target_pad_value() const override { return 255.0; }

 private:
  Ade20kOptions options_;
  std::vector<std::string> stems_;
  std::string image_ext_;
};

// mmseg's PhotoMetricDistortion on an 8-bit RGB image (in place).
void photometric_distortion(cv::Mat& rgb, Rng& rng);

}  // namespace vitrine::data
