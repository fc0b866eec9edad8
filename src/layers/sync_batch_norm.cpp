#include "layers/sync_batch_norm.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <memory>
#include <stdexcept>
#include <string>

namespace vitrine::layers {
namespace {

std::unique_ptr<RankSum> installed;

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// Per-channel sums over every axis but 1.
at::Tensor channel_sum(const at::Tensor& t) {
  std::vector<int64_t> axes{0};
  for (int64_t a = 2; a < t.dim(); ++a) axes.push_back(a);
  return t.sum(axes);
}

// [1, C, 1, ...] for broadcasting a per-channel vector against x.
at::Tensor per_channel(const at::Tensor& v, const at::Tensor& x) {
  std::vector<int64_t> shape(x.dim(), 1);
  shape[1] = v.numel();
  return v.view(shape);
}

// The running buffers travel by pointer: autograd's apply() cannot take undefined tensors.
struct RunningStats {
  at::Tensor mean, var, num_batches_tracked;
};

struct SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias, const RunningStats* stats, double momentum,
                            double eps, const RankSum* sum) {
    const at::Tensor &running_mean = stats->mean, &running_var = stats->var,
                     &num_batches_tracked = stats->num_batches_tracked;
    const int64_t channels = x.size(1);
    // Sums and the element count in float64, one all-reduce for all three.
    const at::Tensor xd = x.to(at::kDouble);
    at::Tensor packed =
        at::cat({channel_sum(xd), channel_sum(xd * xd),
                 at::full({1}, static_cast<double>(x.numel() / channels), xd.options())});
    (*sum)(packed);
    const double count = packed[2 * channels].item<double>();
    if (count <= 1)
      throw std::invalid_argument(
          "SyncBatchNorm: expected more than 1 value per channel over all ranks when training, "
          "got input of shape " +
          std::to_string(x.size(0)) + "x" + std::to_string(channels) + "...");
    const at::Tensor mean = packed.narrow(0, 0, channels) / count;
    const at::Tensor var =
        (packed.narrow(0, channels, channels) / count - mean * mean).clamp_min(0);
    const at::Tensor invstd = (var + eps).rsqrt();
    {
      at::NoGradGuard no_grad;
      if (running_mean.defined()) {
        running_mean.mul_(1 - momentum).add_(mean.to(running_mean.scalar_type()), momentum);
        running_var.mul_(1 - momentum)
            .add_((var * (count / (count - 1))).to(running_var.scalar_type()), momentum);
      }
      if (num_batches_tracked.defined()) num_batches_tracked.add_(1);
    }
    const at::Tensor xhat =
        (x - per_channel(mean.to(x.scalar_type()), x)) * per_channel(invstd.to(x.scalar_type()), x);
    ctx->save_for_backward({xhat, invstd.to(x.scalar_type()), weight});
    ctx->saved_data["count"] = count;
    ctx->saved_data["sum"] = reinterpret_cast<int64_t>(sum);
    return xhat * per_channel(weight, x) + per_channel(bias, x);
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &xhat = saved[0], &invstd = saved[1], &weight = saved[2];
    const double count = ctx->saved_data["count"].toDouble();
    const auto* sum = reinterpret_cast<const RankSum*>(ctx->saved_data["sum"].toInt());
    const at::Tensor dy = grads[0];
    const int64_t channels = xhat.size(1);
    const at::Tensor sum_dy = channel_sum(dy), sum_dy_xhat = channel_sum(dy * xhat);
    // The input gradient needs both sums over every rank's elements.
    at::Tensor packed = at::cat({sum_dy, sum_dy_xhat}).to(at::kDouble);
    (*sum)(packed);
    const at::Tensor mean_dy = (packed.narrow(0, 0, channels) / count).to(dy.scalar_type());
    const at::Tensor mean_dy_xhat =
        (packed.narrow(0, channels, channels) / count).to(dy.scalar_type());
    const at::Tensor dx = per_channel(invstd * weight, dy) *
                          (dy - per_channel(mean_dy, dy) - xhat * per_channel(mean_dy_xhat, dy));
    return {dx,
            sum_dy_xhat,  // weight (local: the gradient all-reduce averages it)
            sum_dy,       // bias
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

SyncBatchNormScope::SyncBatchNormScope(RankSum sum) {
  if (installed) throw std::logic_error("SyncBatchNormScope: one is already installed");
  installed = std::make_unique<RankSum>(std::move(sum));
}

SyncBatchNormScope::~SyncBatchNormScope() {
  installed.reset();
}

const RankSum* active_rank_sum() {
  return installed.get();
}

at::Tensor sync_batch_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                           const at::Tensor& running_mean, const at::Tensor& running_var,
                           const at::Tensor& num_batches_tracked, double momentum, double eps,
                           const RankSum& sum) {
  if (x.dim() < 2)
    throw std::invalid_argument("SyncBatchNorm: expected input [N, C, ...], got " +
                                std::to_string(x.dim()) + " dimensions");
  if (!weight.defined() || !bias.defined())
    throw std::invalid_argument("SyncBatchNorm: affine weight and bias are required");
  const RunningStats stats{running_mean, running_var, num_batches_tracked};
  return SyncBatchNormFunction::apply(x, weight, bias, &stats, momentum, eps, &sum);
}

}  // namespace vitrine::layers
