#include "layers/transformer_init.h"

#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "layers/weight_init.h"

namespace vitrine::layers {

namespace {

void init_one(torch::nn::Module& m, double std) {
  if (auto* linear = m.as<torch::nn::Linear>()) {
    trunc_normal_(linear->weight, std);
    if (linear->bias.defined()) linear->bias.zero_();
  } else if (auto* norm = m.as<torch::nn::LayerNorm>()) {
    norm->weight.fill_(1);
    norm->bias.zero_();
  }
}

}  // namespace

void init_linears_and_norms(torch::nn::Module& root, double std) {
  at::NoGradGuard no_grad;
  init_one(root, std);
  // include_self=false: constructors call this before the model is held by a shared_ptr.
  for (auto& m : root.modules(/*include_self=*/false)) init_one(*m, std);
}

}  // namespace vitrine::layers
