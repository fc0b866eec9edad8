// Classification losses as timm defines them.
#pragma once

#include <ATen/core/Tensor.h>

namespace vitrine::train {

// timm LabelSmoothingCrossEntropy: (1 - s) * NLL + s * mean over classes of -log p.
at::Tensor label_smoothing_cross_entropy(const at::Tensor& logits, const at::Tensor& labels,
                                         double smoothing);
// timm SoftTargetCrossEntropy: mean over the batch of sum_c -target_c * log p_c.
at::Tensor soft_target_cross_entropy(const at::Tensor& logits, const at::Tensor& targets);

}  // namespace vitrine::train
