// Image classification: cross-entropy with label smoothing, or soft-target cross-entropy when
// Mixup/CutMix is on (smoothing folded into the targets, as timm does); evaluation reports
// loss (plain cross-entropy, as timm's validate), top-1 and top-5 accuracy in percent. With
// data.tta: hflip the evaluation scores the mean logits of each image and its mirror image.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/view.h"
#include "data/mixup.h"
#include "train/task.h"

namespace vitrine::train {

// task.* of classification.
struct ClassificationSettings {
  double label_smoothing = 0;
  std::vector<int64_t> topk;
  std::string loss = "ce";                  // ce | bce (timm's BinaryCrossEntropy)
  std::optional<double> bce_target_thresh;  // bce only: binarise targets above it
};

// The logits evaluation scores for `images` [N, C, H, W]: forward(images), or with `hflip_tta`
// the mean of forward(images) and forward(images mirrored along the width), as the fast
// CIFAR-10 recipes' flip test-time augmentation does (airbench).
at::Tensor classification_logits(const ModelForward& forward, const at::Tensor& images,
                                 bool hflip_tta);

class ClassificationTask : public Task {
 public:
  // `task` node: label_smoothing, topk, loss (ce | bce), bce_target_thresh; `data_config`:
  // data.augment (mixup settings) and tta (none | hflip, absent: none). Test-time augmentation is
  // the dataset's: data/fashion_mnist.yaml turns it on, data/imagenet.yaml leaves it off so
  // ImageNet checkpoints evaluate single-crop as their papers report.
  ClassificationTask(const config::ConfigView& task, const config::ConfigView& data_config,
                     int64_t num_classes);

  std::string name() const override { return "classification"; }
  TrainingBatch prepare_training_batch(const data::Batch& batch, data::Rng& rng) override;
  at::Tensor training_loss(models::Model& model, const at::Tensor& inputs,
                           const at::Tensor& targets) override;
  MetricList evaluate(models::Model& model, data::DataLoader& loader, const at::Device& device,
                      const ModelForward& forward = {}) override;
  std::string primary_metric() const override { return "top1"; }
  const data::Mixup& mixup() const { return mixup_; }
  bool hflip_tta() const { return tta_hflip_; }  // data.tta: hflip

 private:
  ClassificationTask(const ClassificationSettings& settings, const std::string& path,
                     const config::ConfigView& data_config, int64_t num_classes);

  double smoothing_;
  bool bce_ = false;               // task.loss: bce (timm BinaryCrossEntropy) instead of ce
  double bce_target_thresh_ = -1;  // task.bce_target_thresh (null: none)
  std::vector<int64_t> topk_;
  data::Mixup mixup_;
  int64_t num_classes_;
  bool tta_hflip_ = false;  // data.tta: hflip
};

}  // namespace vitrine::train
