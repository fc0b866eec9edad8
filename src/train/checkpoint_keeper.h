// Which checkpoints a run keeps: last.pt after every epoch, best.pt for the best metric so far,
// and checkpoint-<epoch>.pt for the keep_top_k best epochs (an evicted one is removed). Every
// file is written atomically, so a killed run never leaves a torn checkpoint.
#pragma once

#include <cstdint>
#include <string>

#include "train/checkpoint.h"

namespace vitrine::train {

struct CheckpointPolicy {
  std::string dir;         // the run directory
  int64_t keep_top_k = 3;  // checkpoint-<epoch>.pt files kept
  bool higher_is_better = true;
};

// Records epoch `epoch` (its metric is progress.metric, when it was evaluated) in `progress`'s
// best and top-k bookkeeping, stores that progress in `contents` and writes the files.
void keep_checkpoints(const CheckpointPolicy& policy, int64_t epoch, RunProgress& progress,
                      CheckpointContents& contents);

}  // namespace vitrine::train
