// Object detection as a training task (RetinaNet): the loss of mmdetection's RetinaHead
// (focal + L1 over MaxIoUAssigner targets, anchors outside each image's own padded extent
// left out) and COCO bbox evaluation — the model's detections rescaled to the original
// images, category ids mapped back, scored by our pycocotools-exact COCOeval over every image
// of the annotation file. Metrics use mmdetection's names (bbox_mAP, bbox_mAP_50, ...).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "config/view.h"
#include "evaluation/coco_eval.h"
#include "models/detectors/retina_targets.h"
#include "models/detectors/retinanet.h"
#include "train/task.h"

namespace vitrine::train {

class DetectionTask : public Task {
 public:
  // `task`: pos_iou_thr, neg_iou_thr, min_pos_iou (the assigner), box_loss (l1 | smooth_l1 |
  // giou), box_loss_weight, smooth_l1_beta, print_summary.
  DetectionTask(const config::ConfigView& task, int64_t num_classes);
  std::string name() const override { return "detection"; }
  TrainingBatch prepare_training_batch(const data::Batch& batch, data::Rng& rng) override;
  // targets [B, G, 5 + 2]: boxes, label (-1 pads), then the image's padded height and width.
  at::Tensor training_loss(models::Model& model, const at::Tensor& inputs,
                           const at::Tensor& targets) override;
  // bbox_mAP, bbox_mAP_50, bbox_mAP_75, bbox_mAP_s, bbox_mAP_m, bbox_mAP_l (0-1, as mmdet).
  MetricList evaluate(models::Model& model, data::DataLoader& loader, const at::Device& device,
                      const ModelForward& forward = {}) override;
  std::string primary_metric() const override { return "bbox_mAP"; }

  // The last evaluation's detections (COCO category ids) and its 12-number result.
  const std::vector<data::CocoDetection>& last_detections() const { return detections_; }
  const evaluation::CocoEvalResult& last_result() const { return result_; }

 private:
  int64_t num_classes_;
  models::AssignerOptions assigner_;
  models::BoxLossOptions box_loss_;
  bool print_summary_ = true;
  std::vector<data::CocoDetection> detections_;
  evaluation::CocoEvalResult result_;
};

}  // namespace vitrine::train
