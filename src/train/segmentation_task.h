// Semantic segmentation as a training task (mmsegmentation's EncoderDecoder): pixel-wise
// cross-entropy (ignore 255; mean over all pixels, mmseg's avg_non_ignore=False) of the
// decode head's logits resized bilinearly to the labels, plus aux_weight x the same for the
// auxiliary head. Evaluation at the original label size: logits of `whole` images or of
// `slide` windows (crop, stride; overlapping windows averaged), optionally averaged over
// horizontal flips and image ratios (softmax probabilities, mmseg's aug_test), resized
// bilinearly to the label, argmax; metrics accumulated over the dataset (seg_metrics.h).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "config/view.h"
#include "evaluation/seg_metrics.h"
#include "train/task.h"

namespace vitrine::train {

struct SegInferenceOptions {
  std::string mode = "whole";  // whole | slide
  int64_t crop_h = 512, crop_w = 512, stride_h = 341, stride_w = 341;
  bool flip = false;
  std::vector<double> ratios{1.0};
};

// Class probabilities [1, C, out_h, out_w] of image [1, 3, h, w] under `options`.
at::Tensor segmentation_inference(const ModelForward& forward, const at::Tensor& image,
                                  int64_t num_classes, int64_t out_h, int64_t out_w,
                                  const SegInferenceOptions& options);

class SegmentationTask : public Task {
 public:
  // `task`: mode, crop_size, stride, flip, ratios, print_table.
  SegmentationTask(const config::ConfigView& task, int64_t num_classes);
  std::string name() const override { return "segmentation"; }
  TrainingBatch prepare_training_batch(const data::Batch& batch, data::Rng& rng) override;
  at::Tensor training_loss(models::Model& model, const at::Tensor& inputs,
                           const at::Tensor& targets) override;
  // aAcc, mIoU, mAcc (fractions, as mmseg's evaluate returns them).
  MetricList evaluate(models::Model& model, data::DataLoader& loader, const at::Device& device,
                      const ModelForward& forward = {}) override;
  std::string primary_metric() const override { return "mIoU"; }
  const std::string& last_table() const { return table_; }
  // Called by evaluate() with each image's source (the data source's path of it, in the
  // loader's order) and its predicted label map [H, W] int64 (class indices 0..C-1) at the
  // label's size: what `vitrine eval --save-predictions` writes.
  using PredictionSink = std::function<void(const std::string& source, const at::Tensor& labels)>;
  void on_prediction(PredictionSink sink) { sink_ = std::move(sink); }

 private:
  int64_t num_classes_;
  SegInferenceOptions inference_;
  bool print_table_ = true;
  std::string table_;
  PredictionSink sink_;
};

}  // namespace vitrine::train
