// timm's ConvNormAct and BatchNormAct2d: a bias-free conv with symmetric "same-ish" padding
// ((stride - 1) + dilation * (k - 1)) / 2, then batch norm with the activation folded in.
// Parameter names follow timm (`conv.weight`, `bn.weight`, `bn.running_mean`, ...).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>

#include <string>

#include "layers/batch_norm.h"

namespace vitrine::layers {

enum class Activation { kNone, kReLU, kSiLU };

// "relu", "silu" (or "swish"), "" / "none"; ConfigError otherwise.
Activation activation_from_name(const std::string& name);
at::Tensor activate(Activation act, const at::Tensor& x);

// Batch norm followed by an activation: our BatchNorm2d (its parameter and buffer names,
// eps 1e-5, momentum 0.1, SyncBatchNorm in distributed runs) with the activation after it.
class BatchNormAct2dImpl : public BatchNorm2dImpl {
 public:
  BatchNormAct2dImpl(int64_t channels, Activation act);
  at::Tensor forward(const at::Tensor& x);

  Activation act;
};
TORCH_MODULE(BatchNormAct2d);

struct ConvNormActOptions {
  int64_t in = 0, out = 0, kernel = 1, stride = 1, dilation = 1, groups = 1;
  Activation act = Activation::kReLU;
  bool apply_act = true;
};

class ConvNormActImpl : public torch::nn::Module {
 public:
  explicit ConvNormActImpl(const ConvNormActOptions& options);
  at::Tensor forward(const at::Tensor& x);
  // Multiply-adds for an input of h x w; updates h, w to the output size.
  double macs(int64_t& h, int64_t& w) const;

  torch::nn::Conv2d conv{nullptr};
  BatchNormAct2d bn{nullptr};

 private:
  ConvNormActOptions options_;
};
TORCH_MODULE(ConvNormAct);

inline ConvNormAct conv_norm_act(int64_t in, int64_t out, int64_t kernel, Activation act,
                                 int64_t stride = 1, int64_t groups = 1, bool apply_act = true) {
  ConvNormActOptions o;
  o.in = in;
  o.out = out;
  o.kernel = kernel;
  o.stride = stride;
  o.groups = groups;
  o.act = act;
  o.apply_act = apply_act;
  return ConvNormAct(o);
}

}  // namespace vitrine::layers
