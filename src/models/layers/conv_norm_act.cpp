#include "models/layers/conv_norm_act.h"

#include <ATen/ATen.h>

#include "core/error.h"
#include "models/layers/sync_batch_norm.h"

namespace vitrine::models {

Activation activation_from_name(const std::string& name) {
  if (name == "relu") return Activation::kReLU;
  if (name == "silu" || name == "swish") return Activation::kSiLU;
  if (name.empty() || name == "none") return Activation::kNone;
  throw ConfigError("unknown activation '" + name + "' (relu, silu or none)");
}

at::Tensor activate(Activation act, const at::Tensor& x) {
  switch (act) {
    case Activation::kReLU: return at::relu(x);
    case Activation::kSiLU: return at::silu(x);
    case Activation::kNone: break;
  }
  return x;
}

BatchNormAct2dImpl::BatchNormAct2dImpl(int64_t channels, Activation act_) : act(act_) {
  weight = register_parameter("weight", at::ones({channels}));
  bias = register_parameter("bias", at::zeros({channels}));
  running_mean = register_buffer("running_mean", at::zeros({channels}));
  running_var = register_buffer("running_var", at::ones({channels}));
  num_batches_tracked = register_buffer("num_batches_tracked", at::zeros({}, at::kLong));
}

at::Tensor BatchNormAct2dImpl::forward(const at::Tensor& x) {
  if (const RankSum* sum = active_rank_sum(); sum && is_training())
    return activate(act, sync_batch_norm(x, weight, bias, running_mean, running_var,
                                         num_batches_tracked, 0.1, 1e-5, *sum));
  if (is_training()) {
    at::NoGradGuard no_grad;
    num_batches_tracked.add_(1);
  }
  return activate(act, at::batch_norm(x, weight, bias, running_mean, running_var, is_training(),
                                      /*momentum=*/0.1, /*eps=*/1e-5, /*cudnn_enabled=*/true));
}

ConvNormActImpl::ConvNormActImpl(const ConvNormActOptions& o) : options_(o) {
  const int64_t padding = ((o.stride - 1) + o.dilation * (o.kernel - 1)) / 2;
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in, o.out, o.kernel)
                                                       .stride(o.stride)
                                                       .padding(padding)
                                                       .dilation(o.dilation)
                                                       .groups(o.groups)
                                                       .bias(false)));
  bn = register_module("bn", BatchNormAct2d(o.out, o.apply_act ? o.act : Activation::kNone));
}

at::Tensor ConvNormActImpl::forward(const at::Tensor& x) {
  return bn->forward(conv->forward(x));
}

double ConvNormActImpl::macs(int64_t& h, int64_t& w) const {
  const ConvNormActOptions& o = options_;
  const int64_t padding = ((o.stride - 1) + o.dilation * (o.kernel - 1)) / 2;
  auto out_side = [&](int64_t side) {
    return (side + 2 * padding - o.dilation * (o.kernel - 1) - 1) / o.stride + 1;
  };
  h = out_side(h);
  w = out_side(w);
  return static_cast<double>(h) * w * o.out * (o.in / o.groups) * o.kernel * o.kernel;
}

}  // namespace vitrine::models
