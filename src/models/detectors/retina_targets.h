// RetinaNet's training targets and classification loss as mmdetection computes them:
//   MaxIoUAssigner(pos_iou_thr 0.5, neg_iou_thr 0.4, min_pos_iou 0, gt_max_assign_all):
//   every anchor starts ignored (-1); anchors whose best IoU is below neg_iou_thr become
//   negative (0); those at or above pos_iou_thr take their best ground truth (index + 1); then,
//   ground truth by ground truth in order, every anchor that ties the ground truth's best IoU
//   (if that best is at least min_pos_iou) is assigned to it — so each object gets its
//   best-matching anchors even below pos_iou_thr (a later object overwrites an earlier one;
//   as in mmdet, with min_pos_iou 0 an object that overlaps no anchor at all claims every
//   anchor of IoU 0 — it cannot happen with anchors covering the image).
//   Sigmoid focal loss (alpha 0.25, gamma 2): per logit
//   -alpha_t (1 - p_t)^gamma log(p_t), summed (callers divide by the number of positives).
#pragma once

#include <ATen/core/Tensor.h>

namespace vitrine::models {

struct AssignerOptions {
  double pos_iou_thr = 0.5;
  double neg_iou_thr = 0.4;
  double min_pos_iou = 0.0;
  bool gt_max_assign_all = true;
};

// anchors [N, 4], gt_boxes [G, 4] (x1 y1 x2 y2) -> [N] int64: -1 ignore, 0 negative, k + 1
// positive for ground truth k.
at::Tensor assign_max_iou(const at::Tensor& anchors, const at::Tensor& gt_boxes,
                          const AssignerOptions& options = {});

// Generalised IoU of matching rows of a and b [N, 4] (x1 y1 x2 y2) -> [N]: IoU minus the
// fraction of the smallest enclosing box that the union leaves empty (mmdet's eps 1e-6).
at::Tensor paired_giou(const at::Tensor& a, const at::Tensor& b);

// logits [N, C], targets [N, C] in {0, 1} -> the summed loss (a scalar).
at::Tensor sigmoid_focal_loss(const at::Tensor& logits, const at::Tensor& targets,
                              double alpha = 0.25, double gamma = 2.0);

}  // namespace vitrine::models
