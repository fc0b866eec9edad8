// The training loop's settings (trainer.*), read and checked in one place.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <optional>
#include <string>

#include "config/view.h"

namespace vitrine::train {

struct EmaSettings {
  bool enabled = false;
  double decay = 0.9998;
  bool warmup = false;  // timm's warmup of the decay
};

struct TrainerSettings {
  int64_t epochs = 1, log_every = 50, eval_every = 1, accum_steps = 1, keep_top_k = 3;
  std::optional<int64_t> limit_train_batches;  // at most this many batches per epoch
  std::optional<double> clip_grad;             // max gradient norm (or value)
  std::string clip_mode = "norm";              // norm | value
  std::string amp;                             // "" (off), bf16 or fp16
  std::optional<std::string> resume;           // auto, a checkpoint path, or none
  bool tensorboard = true;
  int64_t batch_split = 1;      // slices of a batch run on their own CPU threads ("auto": 2 on
                                // the CPU, 1 on a GPU)
  bool replace_run = false;     // move an earlier run in the run directory aside (run_directory.h)
  bool channels_last = false;   // 4-D weights and image batches in NHWC memory order
  bool cudnn_benchmark = true;  // cuDNN picks convolution algorithms by timing (CUDA only)
  EmaSettings ema;
};

// Reads trainer.* (every key declared once) and checks the values against each other and
// the device. Throws ConfigError naming the key at fault.
TrainerSettings read_trainer_settings(const config::ConfigView& trainer, const c10::Device& device);

}  // namespace vitrine::train
