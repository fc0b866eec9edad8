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

}  // namespace vitrine::train
