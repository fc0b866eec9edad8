// The weight init timm's transformers (and the official code built on them) share:
// every Linear trunc_normal(std) with zero bias, every LayerNorm (1, 0).
#pragma once

#include <torch/nn/module.h>

namespace vitrine::layers {

void init_linears_and_norms(torch::nn::Module& root, double std = 0.02);

}  // namespace vitrine::layers
