#include "models/detectors/retina_targets.h"

#include <ATen/ATen.h>

#include "models/detectors/anchors.h"

namespace vitrine::models {

at::Tensor assign_max_iou(const at::Tensor& anchors, const at::Tensor& gt_boxes,
                          const AssignerOptions& o) {
  const int64_t n = anchors.size(0), g = gt_boxes.size(0);
  at::Tensor assigned = at::full({n}, -1, at::kLong);
  if (g == 0) {
    assigned.fill_(0);  // no objects: every anchor is background
    return assigned;
  }
  const at::Tensor overlaps = box_iou(gt_boxes, anchors);  // [G, N]
  const auto [max_overlaps, argmax] = at::max(overlaps, 0);
  assigned.masked_fill_((max_overlaps >= 0) & (max_overlaps < o.neg_iou_thr), 0);
  const at::Tensor positive = max_overlaps >= o.pos_iou_thr;
  assigned = at::where(positive, argmax + 1, assigned);
  const at::Tensor gt_max = std::get<0>(at::max(overlaps, 1));  // [G]
  for (int64_t i = 0; i < g; ++i) {
    const double best = gt_max[i].item<double>();
    if (best < o.min_pos_iou) continue;
    if (o.gt_max_assign_all)
      assigned.masked_fill_(overlaps[i] == best, i + 1);
    else
      assigned[overlaps[i].argmax()] = i + 1;
  }
  return assigned;
}

at::Tensor sigmoid_focal_loss(const at::Tensor& logits, const at::Tensor& targets, double alpha,
                              double gamma) {
  const at::Tensor x = logits.to(at::kFloat), t = targets.to(at::kFloat);
  const at::Tensor p = at::sigmoid(x);
  const at::Tensor pt = (1 - p) * t + p * (1 - t);  // 1 - p_t
  const at::Tensor weight = (alpha * t + (1 - alpha) * (1 - t)) * pt.pow(gamma);
  return (at::binary_cross_entropy_with_logits(x, t, {}, {}, at::Reduction::None) * weight).sum();
}

at::Tensor paired_giou(const at::Tensor& a, const at::Tensor& b) {
  const double eps = 1e-6;
  auto area = [](const at::Tensor& x) {
    return (x.select(1, 2) - x.select(1, 0)) * (x.select(1, 3) - x.select(1, 1));
  };
  const at::Tensor lt = at::max(a.narrow(1, 0, 2), b.narrow(1, 0, 2));
  const at::Tensor rb = at::min(a.narrow(1, 2, 2), b.narrow(1, 2, 2));
  const at::Tensor wh = (rb - lt).clamp_min(0);
  const at::Tensor inter = wh.select(1, 0) * wh.select(1, 1);
  const at::Tensor uni = (area(a) + area(b) - inter).clamp_min(eps);
  const at::Tensor elt = at::min(a.narrow(1, 0, 2), b.narrow(1, 0, 2));
  const at::Tensor erb = at::max(a.narrow(1, 2, 2), b.narrow(1, 2, 2));
  const at::Tensor ewh = (erb - elt).clamp_min(0);
  const at::Tensor enclose = (ewh.select(1, 0) * ewh.select(1, 1)).clamp_min(eps);
  return inter / uni - (enclose - uni) / enclose;
}

}  // namespace vitrine::models
