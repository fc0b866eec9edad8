// Batch norm over [N, C, H, W] with torch::nn::BatchNorm2d's defaults (eps 1e-5, momentum
// 0.1, affine, running statistics) and its parameter and buffer names (weight, bias,
// running_mean, running_var, num_batches_tracked), so checkpoints load unchanged, that takes
// part in SyncBatchNorm when a distributed run installs it (layers/sync_batch_norm.h).
// The zoo's convolutional parts use this one. (A plain Module: a subclass of
// torch::nn::BatchNorm2dImpl would need a template member that libtorch does not export.)
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/options/batchnorm.h>
#include <torch/nn/pimpl.h>

namespace vitrine::layers {

class BatchNorm2dImpl : public torch::nn::Module {
 public:
  explicit BatchNorm2dImpl(int64_t channels)
      : BatchNorm2dImpl(torch::nn::BatchNorm2dOptions(channels)) {}
  // Only the defaults of affine and track_running_stats are supported.
  explicit BatchNorm2dImpl(const torch::nn::BatchNorm2dOptions& options);
  at::Tensor forward(const at::Tensor& x);
  void pretty_print(std::ostream& stream) const override;

  torch::nn::BatchNorm2dOptions options;
  at::Tensor weight, bias, running_mean, running_var, num_batches_tracked;
};
TORCH_MODULE(BatchNorm2d);

}  // namespace vitrine::layers
