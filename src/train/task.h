// What a training task contributes to the shared loop (detectron2's split of trainer and
// task): the training loss of a batch and the evaluation of a model over a loader. The loop
// owns optimisation, schedules, checkpoints and logging; classification, detection,
// segmentation and super-resolution each implement this.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "data/loader.h"
#include "data/random.h"
#include "models/registry.h"
#include "train/run_log.h"

namespace vitrine::train {

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;
  // The loss to minimise for one batch (already on the model's device); may augment the
  // batch further (mixup) with `rng`.
  virtual at::Tensor training_loss(models::Model& model, const data::Batch& batch,
                                   data::Rng& rng) = 0;
  // Metrics of `model` over every batch of `loader` (e.g. loss, top1, top5), in the order
  // they should be reported.
  virtual MetricList evaluate(models::Model& model, data::DataLoader& loader,
                              const at::Device& device) = 0;
  // The metric that picks the best checkpoint, and its direction.
  virtual std::string primary_metric() const = 0;
  virtual bool higher_is_better() const { return true; }
};

}  // namespace vitrine::train
