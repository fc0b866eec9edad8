// RetinaNet's training loss and inference post-processing as mmdetection (2.18+) computes them,
// over a RetinaHead's outputs and the anchors of all levels (grid_anchors order: level, cell
// row-major, anchor within the cell — the order the head's outputs flatten to).
//   Loss: per image, MaxIoUAssigner targets; focal loss over every non-ignored anchor (one-hot
//   for positives, all-zero for background) and L1 on the encoded deltas of positives, both
//   summed over the batch and divided by the number of positives (at least 1).
//   Inference: per level, class scores = sigmoid, (anchor, class) pairs above score_thr, the
//   nms_pre best kept, boxes decoded (and clipped to the image when its size is given); then
//   class-aware NMS over all levels and the max_per_img best.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include "models/detectors/retina_targets.h"
#include "models/heads/retina_head.h"

namespace vitrine::models {

// The box regression loss on positive anchors: mmdet's RetinaNet default L1 on the encoded
// deltas; smooth L1 (Detectron's beta 0.11); or GIoU (1 - GIoU of the decoded box and the
// ground truth, mmdet's reg_decoded_bbox form). Scaled by `weight`.
struct BoxLossOptions {
  std::string type = "l1";  // l1 | smooth_l1 | giou
  double beta = 0.11;
  double weight = 1.0;
};

struct RetinaLoss {
  at::Tensor cls, reg;  // scalars, already divided by the positives
  int64_t num_pos = 0;
};

// gt_boxes[b] [G, 4] (x1, y1, x2, y2), gt_labels[b] [G] in [0, num_classes). valid[b] [N]
// bool (optional): anchors outside image b's own padded extent (mmdet's valid_flags, for
// images padded further to the batch's largest) are neither positive nor negative.
RetinaLoss retina_loss(const RetinaOutputs& outputs, const at::Tensor& anchors,
                       const std::vector<at::Tensor>& gt_boxes,
                       const std::vector<at::Tensor>& gt_labels, int64_t num_classes,
                       const AssignerOptions& assigner = {},
                       const std::vector<at::Tensor>& valid = {},
                       const BoxLossOptions& box_loss = {});

struct RetinaTestOptions {
  double score_thr = 0.05;
  int64_t nms_pre = 1000;
  double iou_threshold = 0.5;
  int64_t max_per_img = 100;
};

struct Detections {
  at::Tensor boxes;   // [K, 4] x1 y1 x2 y2
  at::Tensor scores;  // [K], descending
  at::Tensor labels;  // [K] int64
};

// Image `b` of the batch; anchors_per_level[l] [H_l W_l A, 4]; image_size (height, width) or
// (0, 0) for no clipping.
Detections retina_detect(const RetinaOutputs& outputs, int64_t b,
                         const std::vector<at::Tensor>& anchors_per_level, int64_t num_classes,
                         const RetinaTestOptions& options = {},
                         std::pair<int64_t, int64_t> image_size = {0, 0});

}  // namespace vitrine::models
