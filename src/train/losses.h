// Classification losses as timm defines them.
#pragma once

#include <ATen/core/Tensor.h>

namespace vitrine::train {

// timm LabelSmoothingCrossEntropy: (1 - s) * NLL + s * mean over classes of -log p.
at::Tensor label_smoothing_cross_entropy(const at::Tensor& logits, const at::Tensor& labels,
                                         double smoothing);
// timm SoftTargetCrossEntropy: mean over the batch of sum_c -target_c * log p_c.
at::Tensor soft_target_cross_entropy(const at::Tensor& logits, const at::Tensor& targets);
// timm BinaryCrossEntropy (the ResNet-strikes-back recipes): hard labels become smoothed one-hot
// targets (off = s / C, on = 1 - s + off), soft targets are used as given; with a threshold
// t >= 0 the targets become target > t (0/1); then sigmoid BCE averaged over every logit.
at::Tensor binary_cross_entropy(const at::Tensor& logits, const at::Tensor& targets,
                                double smoothing, double target_threshold = -1);

}  // namespace vitrine::train
