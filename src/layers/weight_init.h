// Parameter initialisers the papers' code uses (timm's trunc_normal_).
#pragma once

#include <ATen/core/Tensor.h>

namespace vitrine::layers {

// In-place normal(mean, std) truncated to [a, b] (absolute bounds, as timm's trunc_normal_):
// values outside are redrawn. Returns `tensor`.
at::Tensor& trunc_normal_(at::Tensor& tensor, double std = 1.0, double mean = 0.0, double a = -2.0,
                          double b = 2.0);

}  // namespace vitrine::layers
