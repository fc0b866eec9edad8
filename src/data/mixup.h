// timm's Mixup/CutMix in batch mode: one lambda per batch, mixing each image with its mirror
// in the batch (x.flip(0)); label smoothing folded into the soft targets.
#pragma once

#include <ATen/core/Tensor.h>

#include "config/view.h"
#include "data/mixup_options.h"
#include "data/random.h"

namespace vitrine::data {

struct MixedBatch {
  at::Tensor images;   // mixed copy
  at::Tensor targets;  // [B, num_classes] soft targets, rows summing to 1
  double lam = 1.0;
  bool cutmix = false;
};

// timm's mixup_target: one-hot with smoothing (off = s / C, on = 1 - s + off), mixed with the
// flipped batch's targets by lam.
at::Tensor mixup_target(const at::Tensor& labels, int64_t num_classes, double lam,
                        double smoothing);

class Mixup {
 public:
  explicit Mixup(MixupOptions options);
  // From data.augment (mixup, cutmix, mixup_prob, mixup_switch_prob, mixup_mode) and the
  // task's label smoothing; nullopt-like `enabled()` false when both alphas are 0.
  static Mixup from_config(const config::ConfigView& augment, double label_smoothing,
                           int64_t num_classes);
  bool enabled() const { return options_.mixup_alpha > 0 || options_.cutmix_alpha > 0; }
  // Throws std::invalid_argument for an odd batch (timm requires even).
  MixedBatch apply(const at::Tensor& images, const at::Tensor& labels, Rng& rng) const;

 private:
  MixupOptions options_;
};

}  // namespace vitrine::data
