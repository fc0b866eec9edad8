#include "layers/drop_path.h"

#include <ATen/ATen.h>

#include "layers/layer_random.h"

namespace vitrine::layers {

DropPathImpl::DropPathImpl(double drop_prob) : drop_prob_(drop_prob) {
  TORCH_CHECK(drop_prob >= 0.0 && drop_prob < 1.0, "DropPath: drop_prob must be in [0, 1), got ",
              drop_prob);
}

at::Tensor DropPathImpl::forward(const at::Tensor& x) {
  if (!is_training() || drop_prob_ == 0.0) return x;
  // One draw per sample, broadcast over every other dimension.
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = x.size(0);
  return x * keep_mask(shape, x.options(), 1.0 - drop_prob_);
}

std::vector<double> drop_path_rates(double max_rate, int64_t count) {
  const at::Tensor rates = at::linspace(0.0, max_rate, count, at::kFloat);
  std::vector<double> out;
  for (int64_t i = 0; i < count; ++i) out.push_back(rates[i].item<float>());
  return out;
}

}  // namespace vitrine::layers
