// The files a training run writes about itself in its output directory:
//   metrics.jsonl  one JSON object per logged step and per epoch
//   summary.csv    one row per epoch, timm's columns (epoch, train_loss, eval_loss,
//                  eval_top1, eval_top5, lr)
// plus TensorBoard scalars. Epochs are numbered from 1 in every file, as on the console
// (callers pass the 0-based index). On resume, records of epochs past the resume point are
// dropped first, so a run killed after logging an epoch but before checkpointing it does not
// log that epoch twice.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "train/tensorboard.h"

namespace vitrine::train {

using MetricList = std::vector<std::pair<std::string, double>>;

class RunLog {
 public:
  // `resume_epoch` > 0: keep only records of epochs before it. An empty directory logs
  // nothing (ranks other than 0 of a distributed run).
  RunLog(const std::string& directory, int64_t resume_epoch, bool tensorboard);

  void log_step(int64_t epoch, int64_t global_step, const MetricList& values);
  void log_epoch(int64_t epoch, const MetricList& train, const MetricList& eval, double lr,
                 const MetricList& extra);

  const std::string& directory() const { return directory_; }

 private:
  std::string directory_;
  std::unique_ptr<TensorBoardWriter> tensorboard_;
};

// A JSON number or null for NaN/inf (JSON has no spelling for them).
std::string json_number(double value);
std::string json_string(const std::string& text);

}  // namespace vitrine::train
