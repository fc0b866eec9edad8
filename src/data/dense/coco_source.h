// COCO detection samples for the loader (data.format: coco), mmdetection's RetinaNet pipeline:
//   LoadImage (RGB) -> annotations to xyxy boxes and contiguous labels (crowds ignored) ->
//   Resize(img_scale, keep_ratio) -> RandomFlip(flip) when training -> Normalize(mean, std)
//   -> Pad(size_divisor) with 0 after normalisation.
// Training leaves out images without annotations or under 32 px a side (CocoDataset's
// filter_empty_gt and min_size); evaluation keeps every image of the annotation file.
// Labels are the categories in ascending id order (COCO's 80 ids 1..90 -> 0..79).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/dense/coco_json.h"
#include "data/dense/normalised_image.h"
#include "data/sample_source.h"

namespace vitrine::data {

struct CocoSourceOptions {
  std::string image_dir;
  std::string annotation_file;
  bool train = true;
  int long_edge = 1333, short_edge = 800;  // img_scale
  int size_divisor = 32;
  double flip = 0.5;
  ChannelStats mean{123.675, 116.28, 103.53}, std{58.395, 57.12, 57.375};
};

// The per-sample meta (Sample::meta) of detection samples, in this order.
enum CocoMeta : int64_t {
  kImageId = 0,
  kOriginalHeight,
  kOriginalWidth,
  kResizedHeight,  // the image before padding
  kResizedWidth,
  kScaleX,  // resized / original
  kScaleY,
  kPaddedHeight,  // the image padded to the size divisor (before batch padding)
  kPaddedWidth,
  kCocoMetaSize
};

class CocoSource : public SampleSource {
 public:
  explicit CocoSource(CocoSourceOptions options);
  int64_t size() const override { return static_cast<int64_t>(images_.size()); }
  std::string source(int64_t index) const override;
  // image [3, H, W] normalised and padded; target [G, 5] = x1, y1, x2, y2, label; meta as
  // CocoMeta.
  Sample load(int64_t index, Rng& rng) const override;
  std::vector<std::string> classes() const override;
  std::string describe() const override;
  bool pads_batches() const override { return true; }
  // Padding rows of a batch's targets carry label -1.
  double target_pad_value() const override { return -1.0; }

  const CocoDataset& dataset() const { return dataset_; }
  // COCO category id of each label.
  const std::vector<int64_t>& category_ids() const { return category_ids_; }
  const std::string& annotation_file() const { return options_.annotation_file; }

 private:
  CocoSourceOptions options_;
  CocoDataset dataset_;
  std::vector<int64_t> category_ids_;
  std::vector<std::pair<int64_t, int64_t>> category_index_;  // id -> label
  std::vector<size_t> images_;                               // indices into dataset_.images
  std::unordered_map<int64_t, std::vector<const CocoAnnotation*>> by_image_;
};

}  // namespace vitrine::data
