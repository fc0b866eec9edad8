// The building blocks of A3-FPN (mason-ching/A3-FPN, a3fpn.py), with its module names; see
// docs/a3fpn_facts.md. Batch norm stands for the official SyncBN (the same parameters and
// buffers; synchronisation comes with distributed training).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>

#include "layers/batch_norm.h"

namespace vitrine::models {

// `Conv`: conv (no bias unless asked) -> optional batch norm (`norm`) -> optional GELU.
class A3ConvImpl : public torch::nn::Module {
 public:
  A3ConvImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = -1,
             int64_t groups = 1, bool act = true, bool bias = false, bool norm = true);
  at::Tensor forward(const at::Tensor& x);

  torch::nn::Conv2d conv{nullptr};
  layers::BatchNorm2d norm{nullptr};

 private:
  bool act_;
};
TORCH_MODULE(A3Conv);

// `RepVggBlock`: GELU(BN(conv3x3(x)) + BN(conv1x1(x))) (training form).
class RepVggBlockImpl : public torch::nn::Module {
 public:
  explicit RepVggBlockImpl(int64_t channels);
  at::Tensor forward(const at::Tensor& x);
  A3Conv conv1{nullptr}, conv2{nullptr};
};
TORCH_MODULE(RepVggBlock);

// `CSPRepLayer`: conv3(RepVgg...(conv1(x)) + conv2(x)), hidden = int(out * expansion); conv3
// (1x1 with bias, no norm/act) only when hidden != out.
class CSPRepLayerImpl : public torch::nn::Module {
 public:
  CSPRepLayerImpl(int64_t in, int64_t out, int64_t num_blocks, double expansion);
  at::Tensor forward(const at::Tensor& x);
  A3Conv conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  std::vector<RepVggBlock> bottlenecks;
};
TORCH_MODULE(CSPRepLayer);

// LayerNorm over channels of [B, C, H, W] (detectron2's LayerNorm, eps 1e-6).
class ChannelLayerNormImpl : public torch::nn::Module {
 public:
  explicit ChannelLayerNormImpl(int64_t channels, double eps = 1e-6);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight, bias;

 private:
  double eps_;
};
TORCH_MODULE(ChannelLayerNorm);

// `Reassemble` (intra-scale content-aware attention): r = sigmoid(GN(x) * gamma / sum(gamma)),
// w1 = where(r > 0.5, 1, r), w2 = where(r > 0.5, 0, r), y = w1 x + flip_channels(w2 x),
// out = GELU(LN(y)).
class ReassembleImpl : public torch::nn::Module {
 public:
  ReassembleImpl(int64_t channels, int64_t group_num, double gate_threshold = 0.5);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::GroupNorm gn{nullptr};
  ChannelLayerNorm norm{nullptr};

 private:
  double gate_threshold_;
};
TORCH_MODULE(Reassemble);

// `SampleBlock`: up — an optional 1x1 Conv (in != out) then bilinear upsampling by `factor`
// (align_corners false), under `sample_layer` (a Sequential: the conv is sample_layer.0); down —
// a Conv with kernel = stride = factor (depthwise when in == out) that is `sample_layer` itself.
class SampleBlockImpl : public torch::nn::Module {
 public:
  SampleBlockImpl(int64_t in, int64_t out, bool upsample, int64_t factor);
  at::Tensor forward(const at::Tensor& x);

 private:
  bool up_;
  int64_t factor_;
  A3Conv conv_{nullptr};
};
TORCH_MODULE(SampleBlock);

}  // namespace vitrine::models
