// Dynamic loss scaling for float16 training (torch.cuda.amp.GradScaler's rule): the loss is
// multiplied by `scale` before backward; gradients are divided by it before clipping and the
// step; a step whose gradients hold inf/NaN is skipped and the scale halved; after
// `growth_interval` clean steps the scale doubles.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace vitrine::train {

class GradScaler {
 public:
  explicit GradScaler(bool enabled, double init_scale = 65536.0, double growth_factor = 2.0,
                      double backoff_factor = 0.5, int64_t growth_interval = 2000);

  at::Tensor scale(const at::Tensor& loss) const;
  // Divides the gradients by the scale; returns false when any is non-finite (skip the step).
  bool unscale(const std::vector<at::Tensor>& params);
  // Adjusts the scale after a step attempt (`found_inf` = !unscale()).
  void update(bool found_inf);

  bool enabled() const { return enabled_; }
  double current_scale() const { return scale_; }
  int64_t growth_tracker() const { return growth_tracker_; }
  void restore(double scale, int64_t growth_tracker) {
    scale_ = scale;
    growth_tracker_ = growth_tracker;
  }

 private:
  bool enabled_;
  double scale_, growth_factor_, backoff_factor_;
  int64_t growth_interval_, growth_tracker_ = 0;
};

}  // namespace vitrine::train
