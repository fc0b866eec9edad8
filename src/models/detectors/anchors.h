// RetinaNet's anchors and box coding as mmdetection defines them:
//   AnchorGenerator(octave_base_scale=4, scales_per_octave=3, ratios=[0.5, 1, 2],
//   strides=[8, 16, 32, 64, 128]): per level, base anchors of size stride * octave_base_scale *
//   2^(i / scales_per_octave), for each ratio h_ratio = sqrt(ratio), w_ratio = 1 / h_ratio,
//   w = size * w_ratio, h = size * h_ratio (ratios outer, scales inner), centred at 0 (offset
//   0), then shifted to every feature-map cell (x = col * stride, y = row * stride), cells
//   row-major, anchors of a cell contiguous.
//   DeltaXYWHBBoxCoder(means 0, stds 1): dx = (gx - px) / pw, dy = ..., dw = log(gw / pw),
//   dh = log(gh / ph); decoding clamps dw/dh at |log(16 / 1000)|.
// Boxes are [x1, y1, x2, y2] (no +1).
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace vitrine::models {

struct AnchorOptions {
  double octave_base_scale = 4;
  int scales_per_octave = 3;
  std::vector<double> ratios{0.5, 1.0, 2.0};
  std::vector<int64_t> strides{8, 16, 32, 64, 128};
};

// [A, 4] base anchors of one level (A = ratios x scales).
at::Tensor base_anchors(const AnchorOptions& o, int64_t stride);
// Anchors of every level for feature maps of the given sizes: [sum(H W A), 4] in level order.
at::Tensor grid_anchors(const AnchorOptions& o,
                        const std::vector<std::pair<int64_t, int64_t>>& feature_sizes);

at::Tensor encode_boxes(const at::Tensor& anchors, const at::Tensor& boxes);   // -> deltas
at::Tensor decode_boxes(const at::Tensor& anchors, const at::Tensor& deltas);  // -> boxes

// IoU of every box in `a` [N, 4] with every box in `b` [M, 4] -> [N, M].
at::Tensor box_iou(const at::Tensor& a, const at::Tensor& b);

}  // namespace vitrine::models
