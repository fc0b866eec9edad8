// What a training task contributes to the shared loop (detectron2's split of trainer and
// task): the training loss of a batch and the evaluation of a model over a loader. The loop
// owns optimisation, schedules, checkpoints and logging; classification, detection,
// segmentation and super-resolution each implement this.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <string>

#include "data/loader.h"
#include "data/random.h"
#include "models/registry.h"
#include "train/run_log.h"

namespace vitrine::train {

using ModelForward = std::function<at::Tensor(const at::Tensor&)>;

struct TrainingBatch {
  at::Tensor inputs;
  at::Tensor targets;  // class indices, or soft targets (one row per input)
};

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;
  // A training batch as the loss wants it (on the model's device): the task may augment it
  // further here (mixup) with `rng`. Rows of inputs and targets correspond, so the trainer
  // can cut the batch into slices along dim 0 (batch splitting over threads).
  virtual TrainingBatch prepare_training_batch(const data::Batch& batch, data::Rng& rng) = 0;
  // The loss to minimise, averaged over the rows of `inputs`.
  virtual at::Tensor training_loss(models::Model& model, const at::Tensor& inputs,
                                   const at::Tensor& targets) = 0;
  // Metrics of `model` over every batch of `loader` (e.g. loss, top1, top5), in the order
  // they should be reported. `forward` stands in for model.forward when given (the trainer
  // splits eval batches over threads with it).
  virtual MetricList evaluate(models::Model& model, data::DataLoader& loader,
                              const at::Device& device, const ModelForward& forward = {}) = 0;
  // The metric that picks the best checkpoint, and its direction.
  virtual std::string primary_metric() const = 0;
  virtual bool higher_is_better() const { return true; }
};

}  // namespace vitrine::train
