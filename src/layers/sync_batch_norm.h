// SyncBatchNorm: in a distributed run, batch norm's training statistics (and their gradient
// terms) summed over every rank, so that N ranks with batch B normalise like one process with
// batch N*B — PyTorch's torch.nn.SyncBatchNorm. The trainer turns it on for the whole process
// (dist.sync_batchnorm, the equivalent of convert_sync_batchnorm on the model) by installing
// the ranks' sum; the project's batch-norm layers (BatchNorm2d, BatchNormAct2d) then take it
// in training mode. Evaluation uses the running statistics as usual.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>

namespace vitrine::layers {

// Sums a tensor over the ranks in place; every rank must call it in the same order.
using RankSum = std::function<void(at::Tensor&)>;

// Installs `sum` for batch-norm layers in training mode until destroyed.
class SyncBatchNormScope {
 public:
  explicit SyncBatchNormScope(RankSum sum);
  ~SyncBatchNormScope();
  SyncBatchNormScope(const SyncBatchNormScope&) = delete;
  SyncBatchNormScope& operator=(const SyncBatchNormScope&) = delete;
};

// The installed sum, or nullptr outside a SyncBatchNormScope.
const RankSum* active_rank_sum();

// Training-mode batch norm over [N, C, ...] with statistics summed by `sum` (biased
// variance for normalising, unbiased over all ranks' elements for running_var, as
// PyTorch); updates the running buffers and num_batches_tracked (when defined). Its
// backward sums the per-channel terms of the input gradient over the ranks too; weight and
// bias gradients stay local (the gradient all-reduce averages them with everything else).
at::Tensor sync_batch_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                           const at::Tensor& running_mean, const at::Tensor& running_var,
                           const at::Tensor& num_batches_tracked, double momentum, double eps,
                           const RankSum& sum);

}  // namespace vitrine::layers
