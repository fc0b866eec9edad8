// Learning-rate schedules with timm's scheduler semantics (CosineLRScheduler, StepLRScheduler,
// MultiStepLRScheduler): a linear warmup from warmup_lr over warmup_t, then the decay; time t
// counts epochs (updated once per epoch) or optimizer updates (step_on: update). timm's v2
// factory runs `epochs` + cooldown_epochs in total; the cosine reaches min_lr at `epochs`
// and stays there through the cooldown. `onecycle` is torch.optim.lr_scheduler.OneCycleLR's
// two-phase learning rate (cosine annealing from max_lr / div_factor up to max_lr over
// pct_start of all steps, then down to max_lr / (div_factor * final_div_factor)); its
// momentum cycling is not reproduced.
#pragma once

#include <string>
#include <vector>

#include "config/view.h"

namespace vitrine::train {

class LrSchedule {
 public:
  enum class Kind { kCosine, kStep, kMultiStep, kConstant, kOneCycle, kPoly };

  // From the `sched` node; `epochs` is trainer.epochs, `updates_per_epoch` the optimizer
  // steps in one epoch.
  LrSchedule(const config::ConfigView& sched, double base_lr, int64_t epochs,
             int64_t updates_per_epoch);

  // The learning rate for optimizer update `update` (0-based) in epoch `epoch`: per-epoch
  // schedules look only at the epoch.
  double lr_at(int64_t epoch, int64_t update) const;
  // The lr at time t, in the schedule's own unit (epochs or updates).
  double lr_at_time(double t) const;

  // Epochs including cooldown.
  int64_t total_epochs() const { return total_epochs_; }
  bool per_update() const { return per_update_; }
  std::string describe() const;

 private:
  Kind kind_ = Kind::kCosine;
  double base_lr_, warmup_lr_ = 0, min_lr_ = 0, decay_rate_ = 0.1, power_ = 1.0;
  double warmup_t_ = 0, t_initial_ = 0;
  std::vector<double> decay_t_;  // step: one period; multistep: milestones
  double pct_start_ = 0.3, div_factor_ = 25, final_div_factor_ = 1e4;  // onecycle
  bool per_update_ = false;
  int64_t updates_per_epoch_ = 1;
  int64_t total_epochs_ = 0;
};

}  // namespace vitrine::train
