#include "layers/batch_norm.h"

#include <ATen/ATen.h>

#include <ostream>
#include <stdexcept>
#include <string>

#include "layers/sync_batch_norm.h"

namespace vitrine::layers {

BatchNorm2dImpl::BatchNorm2dImpl(const torch::nn::BatchNorm2dOptions& o) : options(o) {
  if (!o.affine() || !o.track_running_stats())
    throw std::invalid_argument(
        "BatchNorm2d: affine=false / track_running_stats=false unsupported");
  const int64_t c = o.num_features();
  weight = register_parameter("weight", at::ones({c}));
  bias = register_parameter("bias", at::zeros({c}));
  running_mean = register_buffer("running_mean", at::zeros({c}));
  running_var = register_buffer("running_var", at::ones({c}));
  num_batches_tracked = register_buffer("num_batches_tracked", at::zeros({}, at::kLong));
}

at::Tensor BatchNorm2dImpl::forward(const at::Tensor& x) {
  if (x.dim() != 4)
    throw std::invalid_argument("BatchNorm2d: expected 4-D input [N, C, H, W], got " +
                                std::to_string(x.dim()) + "-D");
  // PyTorch's SyncBatchNorm needs a momentum (no cumulative moving average): 0.1 if unset.
  const double momentum = options.momentum().value_or(0.1);
  if (const RankSum* sum = active_rank_sum(); sum && is_training())
    return sync_batch_norm(x, weight, bias, running_mean, running_var, num_batches_tracked,
                           momentum, options.eps(), *sum);
  if (is_training()) {
    at::NoGradGuard no_grad;
    num_batches_tracked.add_(1);
  }
  return at::batch_norm(x, weight, bias, running_mean, running_var, is_training(), momentum,
                        options.eps(), /*cudnn_enabled=*/true);
}

void BatchNorm2dImpl::pretty_print(std::ostream& stream) const {
  stream << "vitrine::models::BatchNorm2d(" << options.num_features() << ", eps=" << options.eps()
         << ", momentum=" << options.momentum().value_or(0.1) << ")";
}

}  // namespace vitrine::layers
