#include "models/detectors/retinanet.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "layers/nms.h"
#include "models/detectors/anchors.h"

namespace vitrine::models {
namespace {

// [B, A K, H, W] per level -> [B, sum(H W A), K] in anchor order.
at::Tensor flatten_levels(const std::vector<at::Tensor>& levels, int64_t k) {
  std::vector<at::Tensor> parts;
  for (const at::Tensor& t : levels)
    parts.push_back(t.permute({0, 2, 3, 1}).reshape({t.size(0), -1, k}));
  return at::cat(parts, 1);
}

}  // namespace

RetinaLoss retina_loss(const RetinaOutputs& outputs, const at::Tensor& anchors,
                       const std::vector<at::Tensor>& gt_boxes,
                       const std::vector<at::Tensor>& gt_labels, int64_t num_classes,
                       const AssignerOptions& assigner, const std::vector<at::Tensor>& valid,
                       const BoxLossOptions& box_loss) {
  TORCH_CHECK(box_loss.type == "l1" || box_loss.type == "smooth_l1" || box_loss.type == "giou",
              "RetinaNet: box loss must be l1, smooth_l1 or giou, got '", box_loss.type, "'");
  TORCH_CHECK(box_loss.beta > 0, "RetinaNet: smooth L1 needs beta > 0");
  const at::Tensor cls = flatten_levels(outputs.cls, num_classes);  // [B, N, C]
  const at::Tensor reg = flatten_levels(outputs.reg, 4);            // [B, N, 4]
  const int64_t batch = cls.size(0);
  TORCH_CHECK(cls.size(1) == anchors.size(0), "RetinaNet: ", cls.size(1),
              " predictions per image but ", anchors.size(0), " anchors");
  TORCH_CHECK(static_cast<int64_t>(gt_boxes.size()) == batch &&
                  static_cast<int64_t>(gt_labels.size()) == batch,
              "RetinaNet: one set of ground truth per image");
  at::Tensor cls_sum = at::zeros({}, cls.options().dtype(at::kFloat));
  at::Tensor reg_sum = at::zeros({}, cls.options().dtype(at::kFloat));
  int64_t num_pos = 0;
  const at::Tensor anchors_d = anchors.to(cls.device(), at::kFloat);
  for (int64_t b = 0; b < batch; ++b) {
    const at::Tensor boxes = gt_boxes[b].to(anchors_d.options());
    at::Tensor assigned = assign_max_iou(anchors_d.cpu(), boxes.cpu(), assigner);
    if (!valid.empty()) {
      TORCH_CHECK(valid[b].numel() == anchors.size(0), "RetinaNet: valid flags for ",
                  valid[b].numel(), " anchors, expected ", anchors.size(0));
      assigned.masked_fill_(valid[b].cpu().logical_not(), -1);
    }
    assigned = assigned.to(cls.device());
    const at::Tensor counted = assigned >= 0, positive = assigned > 0;
    at::Tensor targets = at::zeros({anchors.size(0), num_classes}, cls.options().dtype(at::kFloat));
    if (positive.any().item<bool>()) {
      const at::Tensor pos_idx = at::nonzero(positive).squeeze(1);
      const at::Tensor gt_idx = assigned.index_select(0, pos_idx) - 1;
      const at::Tensor labels = gt_labels[b].to(cls.device(), at::kLong).index_select(0, gt_idx);
      targets.index_put_({pos_idx, labels}, 1.0);
      const at::Tensor pos_anchors = anchors_d.index_select(0, pos_idx);
      const at::Tensor pos_gt = boxes.index_select(0, gt_idx);
      const at::Tensor pred = reg[b].index_select(0, pos_idx).to(at::kFloat);
      at::Tensor box_term;
      if (box_loss.type == "giou") {
        box_term = (1 - paired_giou(decode_boxes(pos_anchors, pred), pos_gt)).sum();
      } else {
        const at::Tensor diff = (pred - encode_boxes(pos_anchors, pos_gt)).abs();
        box_term = box_loss.type == "l1"
                       ? diff.sum()
                       : at::where(diff < box_loss.beta, 0.5 * diff * diff / box_loss.beta,
                                   diff - 0.5 * box_loss.beta)
                             .sum();
      }
      reg_sum = reg_sum + box_loss.weight * box_term;
      num_pos += pos_idx.size(0);
    }
    const at::Tensor keep = at::nonzero(counted).squeeze(1);
    cls_sum =
        cls_sum + sigmoid_focal_loss(cls[b].index_select(0, keep), targets.index_select(0, keep));
  }
  const double denominator = static_cast<double>(std::max<int64_t>(num_pos, 1));
  return {cls_sum / denominator, reg_sum / denominator, num_pos};
}

Detections retina_detect(const RetinaOutputs& outputs, int64_t b,
                         const std::vector<at::Tensor>& anchors_per_level, int64_t num_classes,
                         const RetinaTestOptions& o, std::pair<int64_t, int64_t> image_size) {
  TORCH_CHECK(anchors_per_level.size() == outputs.cls.size(),
              "RetinaNet: ", anchors_per_level.size(), " anchor levels for ", outputs.cls.size(),
              " outputs");
  std::vector<at::Tensor> boxes, scores, labels;
  for (size_t l = 0; l < outputs.cls.size(); ++l) {
    const at::Tensor s =
        at::sigmoid(outputs.cls[l][b].permute({1, 2, 0}).reshape({-1, num_classes}).to(at::kFloat))
            .reshape(-1);
    const at::Tensor d = outputs.reg[l][b].permute({1, 2, 0}).reshape({-1, 4}).to(at::kFloat);
    const at::Tensor above = at::nonzero(s > o.score_thr).squeeze(1);
    at::Tensor kept_scores = s.index_select(0, above);
    at::Tensor flat = above;
    if (kept_scores.size(0) > o.nms_pre) {
      const auto top = kept_scores.topk(o.nms_pre);
      kept_scores = std::get<0>(top);
      flat = above.index_select(0, std::get<1>(top));
    }
    const at::Tensor anchor_idx = flat.div(num_classes, "floor");
    at::Tensor decoded =
        decode_boxes(anchors_per_level[l].to(d.device(), at::kFloat).index_select(0, anchor_idx),
                     d.index_select(0, anchor_idx));
    if (image_size.first > 0) {
      decoded.select(1, 0).clamp_(0, static_cast<double>(image_size.second));
      decoded.select(1, 2).clamp_(0, static_cast<double>(image_size.second));
      decoded.select(1, 1).clamp_(0, static_cast<double>(image_size.first));
      decoded.select(1, 3).clamp_(0, static_cast<double>(image_size.first));
    }
    boxes.push_back(decoded);
    scores.push_back(kept_scores);
    labels.push_back(flat.remainder(num_classes));
  }
  Detections out;
  out.boxes = at::cat(boxes, 0);
  out.scores = at::cat(scores, 0);
  out.labels = at::cat(labels, 0);
  at::Tensor keep =
      layers::batched_nms(out.boxes.cpu(), out.scores.cpu(), out.labels.cpu(), o.iou_threshold);
  keep = keep.narrow(0, 0, std::min<int64_t>(o.max_per_img, keep.size(0))).to(out.boxes.device());
  out.boxes = out.boxes.index_select(0, keep);
  out.scores = out.scores.index_select(0, keep);
  out.labels = out.labels.index_select(0, keep);
  return out;
}

}  // namespace vitrine::models
