// Training checkpoints: everything a run needs to continue exactly where it stopped, in
// torch.save's format with timm's top-level keys (epoch, arch, state_dict, optimizer,
// state_dict_ema, metric, version) so `torch.load` and `pretrained=` read them too; the run's
// own bookkeeping sits under "vitrine".
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "models/checkpoint/state_dict.h"
#include "train/optimizer.h"

namespace vitrine::train {

struct RunProgress {
  int64_t epoch = 0;             // epochs completed
  int64_t global_step = 0;       // optimizer updates done
  std::optional<double> metric;  // this epoch's eval metric
  std::optional<double> best_metric;
  int64_t best_epoch = -1;
  std::vector<std::pair<double, int64_t>> top_k;  // (metric, epoch) of the kept checkpoints
  int64_t ema_updates = 0;
};

struct CheckpointContents {
  std::string arch;
  models::checkpoint::StateDict model;
  NamedTensors optimizer;
  std::optional<models::checkpoint::StateDict> ema;
  RunProgress progress;
  at::Tensor rng_state;     // torch's default CPU generator
  std::string config_yaml;  // the resolved config of the run that wrote it
};

// Serialises to torch.save bytes (write them with write_file_atomically).
std::vector<char> encode_checkpoint(const CheckpointContents& contents);
// Reads a checkpoint written by encode_checkpoint. Throws CheckpointError naming the path.
CheckpointContents read_checkpoint(const std::string& path);

// The default CPU generator's state (drop path, dropout, init), and restoring it.
at::Tensor torch_rng_state();
void set_torch_rng_state(const at::Tensor& state);

}  // namespace vitrine::train
