#include "train/losses.h"

#include <ATen/ATen.h>

namespace vitrine::train {

at::Tensor label_smoothing_cross_entropy(const at::Tensor& logits, const at::Tensor& labels,
                                         double smoothing) {
  const at::Tensor log_probs = at::log_softmax(logits.to(at::kFloat), -1);
  const at::Tensor nll = -log_probs.gather(-1, labels.unsqueeze(1)).squeeze(1);
  if (smoothing == 0) return nll.mean();
  const at::Tensor smooth = -log_probs.mean(-1);
  return ((1.0 - smoothing) * nll + smoothing * smooth).mean();
}

at::Tensor soft_target_cross_entropy(const at::Tensor& logits, const at::Tensor& targets) {
  return (-targets * at::log_softmax(logits.to(at::kFloat), -1)).sum(-1).mean();
}

at::Tensor binary_cross_entropy(const at::Tensor& logits, const at::Tensor& targets,
                                double smoothing, double target_threshold) {
  const at::Tensor x = logits.to(at::kFloat);
  at::Tensor target;
  if (targets.dim() == 2) {
    target = targets.to(at::kFloat);
  } else {
    const double off = smoothing / static_cast<double>(x.size(-1)), on = 1.0 - smoothing + off;
    target = at::full_like(x, off).scatter_(1, targets.view({-1, 1}), on);
  }
  if (target_threshold >= 0) target = target.gt(target_threshold).to(at::kFloat);
  return at::binary_cross_entropy_with_logits(x, target);
}

}  // namespace vitrine::train
