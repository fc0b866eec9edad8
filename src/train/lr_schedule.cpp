#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "config/option_table.h"
#include "core/error.h"

namespace vitrine::train {

namespace {

// sched.*, every key declared once; a key the named schedule does not use is ignored.
struct ScheduleSettings {
  std::string name;
  std::string step_on = "epoch";  // epoch | update
  double warmup_epochs = 0, warmup_lr = 0, min_lr = 0;
  int64_t cooldown_epochs = 0;
  double decay_rate = 0.1;
  std::optional<double> decay_epochs;                                 // step
  std::optional<std::vector<double>> decay_milestones;                // multistep
  double pct_start = 0.3, div_factor = 25.0, final_div_factor = 1e4;  // onecycle
  double power = 1.0;                                                 // poly
};

ScheduleSettings read_settings(const config::ConfigView& sched) {
  using S = ScheduleSettings;
  static const auto table = config::OptionTable<S>()
                                .field("name", &S::name)
                                .required()
                                .field("step_on", &S::step_on)
                                .field("warmup_epochs", &S::warmup_epochs)
                                .field("warmup_lr", &S::warmup_lr)
                                .field("min_lr", &S::min_lr)
                                .field("cooldown_epochs", &S::cooldown_epochs)
                                .field("decay_rate", &S::decay_rate)
                                .field("decay_epochs", &S::decay_epochs)
                                .field("decay_milestones", &S::decay_milestones)
                                .field("pct_start", &S::pct_start)
                                .field("div_factor", &S::div_factor)
                                .field("final_div_factor", &S::final_div_factor)
                                .field("power", &S::power);
  return table.apply(sched, S());
}

}  // namespace

LrSchedule::LrSchedule(const config::ConfigView& sched, double base_lr, int64_t epochs,
                       int64_t updates_per_epoch)
    : base_lr_(base_lr), updates_per_epoch_(std::max<int64_t>(1, updates_per_epoch)) {
  const ScheduleSettings s = read_settings(sched);
  const std::string& name = s.name;
  if (name == "cosine")
    kind_ = Kind::kCosine;
  else if (name == "step")
    kind_ = Kind::kStep;
  else if (name == "multistep")
    kind_ = Kind::kMultiStep;
  else if (name == "constant")
    kind_ = Kind::kConstant;
  else if (name == "onecycle")
    kind_ = Kind::kOneCycle;
  else if (name == "poly")
    kind_ = Kind::kPoly;
  else
    throw ConfigError(sched.path() +
                      ".name must be cosine, step, multistep, constant, onecycle or poly, got '" +
                      name + "'");
  if (s.step_on != "epoch" && s.step_on != "update")
    throw ConfigError(sched.path() + ".step_on must be 'epoch' or 'update', got '" + s.step_on +
                      "'");
  per_update_ = s.step_on == "update";
  if (epochs < 1) throw ConfigError("trainer.epochs must be >= 1");
  const double scale = per_update_ ? static_cast<double>(updates_per_epoch_) : 1.0;
  warmup_t_ = s.warmup_epochs * scale;
  warmup_lr_ = s.warmup_lr;
  min_lr_ = s.min_lr;
  decay_rate_ = s.decay_rate;
  power_ = s.power;
  if (!(power_ > 0)) throw ConfigError(sched.path() + ".power must be positive");
  const int64_t cooldown = s.cooldown_epochs;
  if (cooldown < 0 || warmup_t_ < 0) throw ConfigError(sched.path() + ": negative epochs");
  t_initial_ = static_cast<double>(epochs) * scale;
  total_epochs_ = epochs + cooldown;
  if (kind_ == Kind::kStep) {
    if (!s.decay_epochs) config::throw_missing_key(sched, "decay_epochs");
    const double period = *s.decay_epochs * scale;
    if (!(period > 0)) throw ConfigError(sched.path() + ".decay_epochs must be positive");
    decay_t_ = {period};
  } else if (kind_ == Kind::kOneCycle) {
    pct_start_ = s.pct_start;
    div_factor_ = s.div_factor;
    final_div_factor_ = s.final_div_factor;
    if (!(pct_start_ > 0 && pct_start_ < 1) || !(div_factor_ > 0) || !(final_div_factor_ > 0))
      throw ConfigError(sched.path() +
                        ": onecycle needs pct_start in (0, 1) and positive div factors");
    if (warmup_t_ > 0 || cooldown > 0)
      throw ConfigError(sched.path() +
                        ": onecycle has its own warmup phase; set warmup_epochs "
                        "and cooldown_epochs to 0");
  } else if (kind_ == Kind::kMultiStep) {
    if (!s.decay_milestones) config::throw_missing_key(sched, "decay_milestones");
    for (double m : *s.decay_milestones) decay_t_.push_back(m * scale);
    if (!std::is_sorted(decay_t_.begin(), decay_t_.end()))
      throw ConfigError(sched.path() + ".decay_milestones must be increasing");
  }
}

double LrSchedule::lr_at_time(double t) const {
  if (kind_ == Kind::kOneCycle) {
    // PyTorch's phases: up to step pct_start * total - 1, then down to step total - 1; each
    // cosine-annealed, lr = end + (start - end) / 2 * (1 + cos(pi * pct)).
    const double initial = base_lr_ / div_factor_, final_lr = initial / final_div_factor_;
    const double up_end = pct_start_ * t_initial_ - 1, down_end = t_initial_ - 1;
    auto anneal = [](double start, double end, double pct) {
      return end + (start - end) / 2.0 * (std::cos(M_PI * pct) + 1.0);
    };
    if (t <= up_end) return anneal(initial, base_lr_, t / up_end);
    return anneal(base_lr_, final_lr, std::min(1.0, (t - up_end) / (down_end - up_end)));
  }
  if (t < warmup_t_) return warmup_lr_ + t * (base_lr_ - warmup_lr_) / warmup_t_;
  switch (kind_) {
    case Kind::kCosine:
      if (t >= t_initial_) return min_lr_;
      return min_lr_ + 0.5 * (base_lr_ - min_lr_) * (1.0 + std::cos(M_PI * t / t_initial_));
    case Kind::kStep: return base_lr_ * std::pow(decay_rate_, std::floor(t / decay_t_[0]));
    case Kind::kMultiStep: {
      // bisect_right: milestones <= t have passed.
      const auto passed = std::upper_bound(decay_t_.begin(), decay_t_.end(), t) - decay_t_.begin();
      return base_lr_ * std::pow(decay_rate_, static_cast<double>(passed));
    }
    case Kind::kConstant: return base_lr_;
    case Kind::kPoly:
      // mmcv's PolyLrUpdater: (base - min) (1 - t / T)^power + min.
      if (t >= t_initial_) return min_lr_;
      return (base_lr_ - min_lr_) * std::pow(1.0 - t / t_initial_, power_) + min_lr_;
    case Kind::kOneCycle: break;  // handled above
  }
  return base_lr_;
}

double LrSchedule::lr_at(int64_t epoch, int64_t update) const {
  return lr_at_time(per_update_ ? static_cast<double>(epoch * updates_per_epoch_ + update)
                                : static_cast<double>(epoch));
}

std::string LrSchedule::describe() const {
  const char* names[] = {"cosine", "step", "multistep", "constant", "onecycle", "poly"};
  char text[160];
  std::snprintf(text, sizeof(text), "%s schedule (warmup %g %s from %g, min %g, per %s)",
                names[static_cast<int>(kind_)], warmup_t_, per_update_ ? "updates" : "epochs",
                warmup_lr_, min_lr_, per_update_ ? "update" : "epoch");
  return text;
}

}  // namespace vitrine::train
