// The training loop shared by every task: builds data, model, task, optimiser and schedule
// from the resolved config, trains with gradient accumulation, clipping, loss scaling and
// EMA, evaluates each epoch, keeps checkpoints (last, best, top-k; all written atomically)
// and resumes a killed run from its last checkpoint with identical state.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <optional>
#include <string>

#include "config/node.h"
#include "train/run_log.h"

namespace vitrine::train {

struct TrainOutcome {
  MetricList final_eval;  // the last epoch's evaluation (EMA weights when EMA is on)
  std::optional<double> best_metric;
  int64_t best_epoch = -1;
  std::string metric_name;
  int64_t epochs_run = 0;  // epochs trained by this invocation
  double train_images_per_second = 0;
  double seconds = 0;
};

class Trainer {
 public:
  // `config` is the whole resolved run config; `output_dir` the run directory (exists).
  Trainer(const config::Node& config, std::string output_dir);
  ~Trainer();
  TrainOutcome run();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace vitrine::train
