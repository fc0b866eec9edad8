#include "layers/dropout.h"

#include <ATen/ATen.h>

#include "layers/layer_random.h"

namespace vitrine::layers {

DropoutImpl::DropoutImpl(double p) : p_(p) {
  TORCH_CHECK(p >= 0.0 && p < 1.0, "Dropout: p must be in [0, 1), got ", p);
}

at::Tensor DropoutImpl::forward(const at::Tensor& x) {
  if (!is_training() || p_ == 0.0) return x;
  return x * keep_mask(x.sizes(), x.options(), 1.0 - p_);
}

}  // namespace vitrine::layers
