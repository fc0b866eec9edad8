// Non-maximum suppression as torchvision defines it, registered as torch ops
// (vitrine::nms, vitrine::batched_nms) so a CUDA kernel can join later and exported models keep
// them:
//   nms: boxes [N, 4] (x1, y1, x2, y2; areas without +1), scores [N]; visits boxes by
//   decreasing score (ties by index, a stable sort) and drops every later box whose IoU with a
//   kept one exceeds iou_threshold; returns the kept indices, highest score first.
//   batched_nms: class-aware — boxes of different `idxs` never suppress each other
//   (torchvision's coordinate-offset trick: the same result as NMS per class).
#pragma once

#include <ATen/core/Tensor.h>

namespace vitrine::layers {

at::Tensor nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold);
at::Tensor batched_nms(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs,
                       double iou_threshold);

}  // namespace vitrine::layers
