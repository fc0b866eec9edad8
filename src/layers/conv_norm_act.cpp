#include "layers/conv_norm_act.h"

#include <ATen/ATen.h>

#include "core/error.h"

namespace vitrine::layers {

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

BatchNormAct2dImpl::BatchNormAct2dImpl(int64_t channels, Activation act_)
    : BatchNorm2dImpl(channels), act(act_) {}

at::Tensor BatchNormAct2dImpl::forward(const at::Tensor& x) {
  return activate(act, BatchNorm2dImpl::forward(x));
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

}  // namespace vitrine::layers
