// What a training task contributes to the shared loop (detectron2's split of trainer and
// task): the training loss of a batch and the evaluation of a model over a loader. The loop
// owns optimisation, schedules, checkpoints and logging; classification, detection,
// segmentation and super-resolution each implement this.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <vector>

#include "data/loader.h"
#include "data/random.h"
#include "models/registry.h"
#include "train/run_log.h"

namespace vitrine::train {

using ModelForward = std::function<at::Tensor(const at::Tensor&)>;

// The ranks of a distributed evaluation: each evaluates its shard of the loader, and the
// task combines the shards through `sum` (element-wise sums over the ranks; every rank calls
// it in the same order). One process: no sum, nothing to combine.
struct RankGroup {
  int rank = 0, world_size = 1;
  std::function<std::vector<double>(const std::vector<double>&)> sum;

  std::vector<double> sum_over_ranks(const std::vector<double>& values) const {
    return sum ? sum(values) : values;
  }
  // Every rank's `values` concatenated in rank order (a gather made of two sums).
  std::vector<double> gather(const std::vector<double>& values) const;
};

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
  // Distributed evaluation (set by the trainer): evaluate() then sees this rank's shard of
  // the loader and reports metrics over all shards, the same on every rank.
  void set_rank_group(RankGroup group) { ranks_ = std::move(group); }
  // The metric that picks the best checkpoint, and its direction.
  virtual std::string primary_metric() const = 0;
  virtual bool higher_is_better() const { return true; }

 protected:
  RankGroup ranks_;
};

}  // namespace vitrine::train
