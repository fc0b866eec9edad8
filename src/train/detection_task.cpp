#include "train/detection_task.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <iostream>

#include "config/option_table.h"
#include "core/error.h"
#include "data/dense/coco_source.h"
#include "models/detectors/retinanet.h"
#include "models/detectors/retinanet_detector.h"

namespace vitrine::train {
namespace {

models::RetinaNetDetector& as_detector(models::Model& model) {
  auto* detector = dynamic_cast<models::RetinaNetDetector*>(&model);
  if (!detector)
    throw ConfigError("task detection needs a detector model (model=retinanet_r50_fpn, ...)");
  return *detector;
}

// mmdet's valid_flags: for image `b`, the anchors of cells inside its own padded extent
// (ceil(padded / stride) cells per side) of each level.
at::Tensor valid_anchors(const std::vector<at::Tensor>& per_level,
                         const std::vector<int64_t>& strides,
                         const std::vector<std::pair<int64_t, int64_t>>& sizes, int64_t anchors,
                         int64_t padded_h, int64_t padded_w) {
  std::vector<at::Tensor> flags;
  for (size_t l = 0; l < per_level.size(); ++l) {
    const auto [h, w] = sizes[l];
    const int64_t s = strides[l];
    const int64_t valid_h = std::min((padded_h + s - 1) / s, h);
    const int64_t valid_w = std::min((padded_w + s - 1) / s, w);
    at::Tensor f = at::zeros({h, w, anchors}, at::kBool);
    f.narrow(0, 0, valid_h).narrow(1, 0, valid_w).fill_(true);
    flags.push_back(f.reshape(-1));
  }
  return at::cat(flags);
}

}  // namespace

DetectionTask::DetectionTask(const config::ConfigView& task, int64_t num_classes)
    : num_classes_(num_classes) {
  using T = DetectionTask;
  static const auto table =
      config::OptionTable<T>()
          .known("name")
          .field_at("box_loss", [](T& t) -> std::string& { return t.box_loss_.type; })
          .field_at("box_loss_weight", [](T& t) -> double& { return t.box_loss_.weight; })
          .field_at("smooth_l1_beta", [](T& t) -> double& { return t.box_loss_.beta; })
          .field_at("pos_iou_thr", [](T& t) -> double& { return t.assigner_.pos_iou_thr; })
          .field_at("neg_iou_thr", [](T& t) -> double& { return t.assigner_.neg_iou_thr; })
          .field_at("min_pos_iou", [](T& t) -> double& { return t.assigner_.min_pos_iou; })
          .field("print_summary", &T::print_summary_);
  table.apply_to(task, *this);
  if (box_loss_.type != "l1" && box_loss_.type != "smooth_l1" && box_loss_.type != "giou")
    throw ConfigError(task.path() + ".box_loss must be l1, smooth_l1 or giou, got '" +
                      box_loss_.type + "'");
  if (!(box_loss_.weight >= 0) || !(box_loss_.beta > 0))
    throw ConfigError(task.path() + ": box_loss_weight must be >= 0 and smooth_l1_beta > 0");
  if (!(assigner_.neg_iou_thr <= assigner_.pos_iou_thr))
    throw ConfigError(task.path() + ": neg_iou_thr must not exceed pos_iou_thr");
}

TrainingBatch DetectionTask::prepare_training_batch(const data::Batch& batch, data::Rng&) {
  if (!batch.targets.defined() || !batch.meta.defined() || batch.targets.dim() != 3)
    throw ConfigError("task detection needs detection data (data.format: coco)");
  // Each image's own padded extent rides along with its boxes, so slices of the batch keep it.
  const int64_t b = batch.targets.size(0), g = batch.targets.size(1);
  const at::Tensor padded =
      at::stack(
          {batch.meta.select(1, data::kPaddedHeight), batch.meta.select(1, data::kPaddedWidth)}, 1)
          .to(at::kFloat);
  const at::Tensor extent = padded.view({b, 1, 2}).expand({b, g, 2});
  at::Tensor targets = at::cat({batch.targets, extent}, 2);
  if (g == 0) targets = at::cat({at::zeros({b, 1, 5}).fill_(-1), padded.view({b, 1, 2})}, 2);
  return {batch.images, targets};
}

at::Tensor DetectionTask::training_loss(models::Model& model, const at::Tensor& inputs,
                                        const at::Tensor& targets) {
  models::RetinaNetDetector& detector = as_detector(model);
  const models::RetinaOutputs outputs = detector.head_outputs(inputs);
  const int64_t height = inputs.size(2), width = inputs.size(3);
  const std::vector<at::Tensor> per_level = detector.anchors(height, width);
  std::vector<std::pair<int64_t, int64_t>> sizes;
  for (const at::Tensor& c : outputs.cls) sizes.emplace_back(c.size(2), c.size(3));
  const int64_t a = outputs.reg.front().size(1) / 4;
  std::vector<at::Tensor> boxes, labels, valid;
  const at::Tensor cpu_targets = targets.to(at::kCPU, at::kFloat);
  for (int64_t b = 0; b < inputs.size(0); ++b) {
    const at::Tensor rows = cpu_targets[b];
    const at::Tensor keep = at::nonzero(rows.select(1, 4) >= 0).squeeze(1);
    boxes.push_back(rows.index_select(0, keep).narrow(1, 0, 4));
    labels.push_back(rows.index_select(0, keep).select(1, 4).to(at::kLong));
    valid.push_back(valid_anchors(per_level, detector.options().anchors.strides, sizes, a,
                                  static_cast<int64_t>(rows[0][5].item<float>()),
                                  static_cast<int64_t>(rows[0][6].item<float>())));
  }
  const models::RetinaLoss loss = models::retina_loss(outputs, at::cat(per_level), boxes, labels,
                                                      num_classes_, assigner_, valid, box_loss_);
  return loss.cls + loss.reg;
}

MetricList DetectionTask::evaluate(models::Model& model, data::DataLoader& loader,
                                   const at::Device& device, const ModelForward& forward) {
  c10::InferenceMode inference;
  model.eval();
  models::RetinaNetDetector& detector = as_detector(model);
  const auto* source = dynamic_cast<const data::CocoSource*>(&loader.source());
  if (!source) throw ConfigError("task detection evaluates COCO-format data (data.format: coco)");
  const std::vector<int64_t>& category_ids = source->category_ids();
  detections_.clear();
  loader.start_epoch(0);
  data::Batch batch;
  while (loader.next(batch)) {
    const at::Tensor images = batch.images.to(device);
    const at::Tensor flat = (forward ? forward(images) : model.forward(images)).to(at::kCPU);
    const int64_t height = images.size(2), width = images.size(3);
    const models::RetinaOutputs outputs = detector.split_flat(flat, height, width);
    const std::vector<at::Tensor> anchors = detector.anchors(height, width);
    const at::Tensor meta = batch.meta.to(at::kDouble);
    for (int64_t b = 0; b < images.size(0); ++b) {
      const at::Tensor row = meta[b].contiguous();
      const double* m = row.data_ptr<double>();
      const models::Detections d =
          models::retina_detect(outputs, b, anchors, num_classes_, detector.options().test,
                                {static_cast<int64_t>(m[data::kResizedHeight]),
                                 static_cast<int64_t>(m[data::kResizedWidth])});
      // Back to the original image: divide by the resize factors (mmdet's rescale).
      const at::Tensor boxes = d.boxes.to(at::kDouble).contiguous();
      const auto bx = boxes.accessor<double, 2>();
      const at::Tensor scores_t = d.scores.to(at::kDouble).contiguous();
      const at::Tensor labels_t = d.labels.to(at::kLong).contiguous();
      const auto scores = scores_t.accessor<double, 1>();
      const auto labels = labels_t.accessor<int64_t, 1>();
      for (int64_t k = 0; k < boxes.size(0); ++k) {
        const double x1 = bx[k][0] / m[data::kScaleX], y1 = bx[k][1] / m[data::kScaleY];
        const double x2 = bx[k][2] / m[data::kScaleX], y2 = bx[k][3] / m[data::kScaleY];
        data::CocoDetection det;
        det.image_id = static_cast<int64_t>(m[data::kImageId]);
        det.category_id = category_ids.at(static_cast<size_t>(labels[k]));
        det.bbox = {x1, y1, x2 - x1, y2 - y1};
        det.score = scores[k];
        detections_.push_back(det);
      }
    }
  }
  if (ranks_.sum) {
    // A distributed run: every rank's detections (its shard of the images), on every rank.
    std::vector<double> mine;
    mine.reserve(detections_.size() * 7);
    for (const auto& d : detections_)
      mine.insert(mine.end(), {static_cast<double>(d.image_id), static_cast<double>(d.category_id),
                               d.bbox[0], d.bbox[1], d.bbox[2], d.bbox[3], d.score});
    const std::vector<double> all = ranks_.gather(mine);
    detections_.clear();
    for (size_t i = 0; i + 7 <= all.size(); i += 7) {
      data::CocoDetection d;
      d.image_id = static_cast<int64_t>(all[i]);
      d.category_id = static_cast<int64_t>(all[i + 1]);
      d.bbox = {all[i + 2], all[i + 3], all[i + 4], all[i + 5]};
      d.score = all[i + 6];
      detections_.push_back(d);
    }
  }
  std::vector<int64_t> image_ids;
  for (const auto& image : source->dataset().images) image_ids.push_back(image.id);
  result_ = evaluation::coco_evaluate_bbox(source->dataset().ground_truth(), detections_, image_ids,
                                           category_ids);
  if (print_summary_) std::cout << result_.summary << std::flush;
  const auto& s = result_.stats;
  return {{"bbox_mAP", s[0]},   {"bbox_mAP_50", s[1]}, {"bbox_mAP_75", s[2]},
          {"bbox_mAP_s", s[3]}, {"bbox_mAP_m", s[4]},  {"bbox_mAP_l", s[5]}};
}

}  // namespace vitrine::train
