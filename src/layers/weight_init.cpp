#include "layers/weight_init.h"

#include <ATen/ATen.h>

namespace vitrine::layers {

at::Tensor& trunc_normal_(at::Tensor& tensor, double std, double mean, double a, double b) {
  TORCH_CHECK(a < b, "trunc_normal_: empty interval [", a, ", ", b, "]");
  at::NoGradGuard no_grad;
  tensor.normal_(mean, std);
  // Redraw the tail; with timm's defaults (+-2 around 0, std 0.02) nothing is ever redrawn,
  // with tight bounds a few rounds suffice.
  for (int round = 0; round < 100; ++round) {
    at::Tensor outside = (tensor < a).logical_or(tensor > b);
    const int64_t n = outside.sum().item<int64_t>();
    if (n == 0) return tensor;
    tensor.masked_scatter_(outside, at::empty({n}, tensor.options()).normal_(mean, std));
  }
  tensor.clamp_(a, b);
  return tensor;
}

}  // namespace vitrine::layers
