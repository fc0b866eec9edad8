// The detection input pipeline's geometric steps as mmdetection applies them:
//   Resize(scale=(1333, 800), keep_ratio): factor = min(long / max(h, w), short / min(h, w)),
//   new size int(w * f + 0.5) x int(h * f + 0.5) (mmcv rescale_size), bilinear (cv2), boxes
//   scaled by new_w / w and new_h / h and clipped to the image;
//   RandomFlip (horizontal): x1' = w - x2, x2' = w - x1;
//   Pad(size_divisor=32): zeros at the bottom and right up to multiples of the divisor.
//   COCO annotations become [x1, y1, x1 + w, y1 + h]; boxes under 1 px wide or high, with no
//   area, or crowds are not training targets (crowds go to the ignore list), as CocoDataset.
#pragma once

#include <array>
#include <opencv2/core/mat.hpp>
#include <utility>
#include <vector>

#include "data/dense/coco_json.h"

namespace vitrine::data {

using Box = std::array<double, 4>;  // x1, y1, x2, y2

// (new_width, new_height) for an image of width x height.
std::pair<int, int> keep_ratio_size(int width, int height, int long_edge, int short_edge);

struct DetSample {
  cv::Mat image;           // RGB
  std::vector<Box> boxes;  // training targets
  std::vector<int64_t> labels;
  std::vector<Box> ignored;  // crowd regions
};

// CocoDataset's filtering and box conversion; labels map category ids to 0..C-1 through
// `category_index` (category id -> label).
void coco_targets(const std::vector<const CocoAnnotation*>& annotations,
                  const std::vector<std::pair<int64_t, int64_t>>& category_index, DetSample& out);

void resize_keep_ratio(DetSample& s, int long_edge, int short_edge);
void flip_horizontal(DetSample& s);
void pad_to_multiple(DetSample& s, int divisor);

}  // namespace vitrine::data
