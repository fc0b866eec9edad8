#include "data/mixup.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace vitrine::data {

at::Tensor mixup_target(const at::Tensor& labels, int64_t num_classes, double lam,
                        double smoothing) {
  const double off = smoothing / static_cast<double>(num_classes);
  const double on = 1.0 - smoothing + off;
  auto one_hot = [&](const at::Tensor& y) {
    return at::full({y.size(0), num_classes}, off, at::kFloat)
        .scatter_(1, y.to(at::kLong).view({-1, 1}), on);
  };
  return one_hot(labels) * lam + one_hot(labels.flip(0)) * (1.0 - lam);
}

Mixup::Mixup(MixupOptions options) : options_(options) {
  if (options_.mixup_alpha < 0 || options_.cutmix_alpha < 0)
    throw ConfigError("mixup and cutmix alphas must be >= 0");
}

Mixup Mixup::from_config(const config::ConfigView& augment, double label_smoothing,
                         int64_t num_classes) {
  MixupOptions o = read_mixup_options(augment);
  o.label_smoothing = label_smoothing;
  o.num_classes = num_classes;
  return Mixup(o);
}

MixedBatch Mixup::apply(const at::Tensor& images, const at::Tensor& labels, Rng& rng) const {
  const int64_t batch = images.size(0);
  if (batch % 2 != 0)
    throw std::invalid_argument("mixup/cutmix needs an even batch size, got " +
                                std::to_string(batch));
  MixedBatch out;
  double lam = 1.0;
  bool use_cutmix = false;
  if (enabled() && rng.uniform() < options_.prob) {
    if (options_.mixup_alpha > 0 && options_.cutmix_alpha > 0) {
      use_cutmix = rng.uniform() < options_.switch_prob;
      lam = use_cutmix ? rng.beta(options_.cutmix_alpha, options_.cutmix_alpha)
                       : rng.beta(options_.mixup_alpha, options_.mixup_alpha);
    } else if (options_.mixup_alpha > 0) {
      lam = rng.beta(options_.mixup_alpha, options_.mixup_alpha);
    } else {
      use_cutmix = true;
      lam = rng.beta(options_.cutmix_alpha, options_.cutmix_alpha);
    }
  }
  out.images = images.clone();
  if (lam < 1.0) {
    if (use_cutmix) {
      const int64_t h = images.size(-2), w = images.size(-1);
      const double ratio = std::sqrt(1.0 - lam);
      const int64_t cut_h = static_cast<int64_t>(h * ratio),
                    cut_w = static_cast<int64_t>(w * ratio);
      const int64_t cy = rng.randint(0, h - 1), cx = rng.randint(0, w - 1);
      const int64_t y0 = std::clamp<int64_t>(cy - cut_h / 2, 0, h);
      const int64_t y1 = std::clamp<int64_t>(cy + cut_h / 2, 0, h);
      const int64_t x0 = std::clamp<int64_t>(cx - cut_w / 2, 0, w);
      const int64_t x1 = std::clamp<int64_t>(cx + cut_w / 2, 0, w);
      out.images.slice(-2, y0, y1)
          .slice(-1, x0, x1)
          .copy_(images.flip(0).slice(-2, y0, y1).slice(-1, x0, x1));
      if (options_.correct_lam)
        lam = 1.0 - static_cast<double>((y1 - y0) * (x1 - x0)) / static_cast<double>(h * w);
    } else {
      out.images.mul_(lam).add_(images.flip(0) * (1.0 - lam));
    }
  }
  out.lam = lam;
  out.cutmix = use_cutmix;
  out.targets = mixup_target(labels, options_.num_classes, lam, options_.label_smoothing);
  return out;
}

}  // namespace vitrine::data
