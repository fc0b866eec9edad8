// The pieces around the NA layers of a hierarchical backbone, in both of NAT's layouts:
// NAT/DiNAT (overlapping 3x3 conv tokenizer and downsampler) and DiNAT_s (Swin's 4x4 patch
// embedding and patch merging). All work on channels-last tokens [B, H, W, C] and keep the
// official parameter names.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

namespace vitrine::models {

// Image [B, C, H, W] -> tokens [B, H/4, W/4, embed_dim].
class Stem : public torch::nn::Module {
 public:
  virtual at::Tensor forward(const at::Tensor& images) = 0;
};

// Tokens [B, H, W, C] -> [B, ceil(H/2), ceil(W/2), 2C].
class Downsampler : public torch::nn::Module {
 public:
  virtual at::Tensor forward(const at::Tensor& x) = 0;
};

// NAT: proj = [conv3x3 s2 (in -> C/2), conv3x3 s2 (C/2 -> C)] with no activation, then norm.
class ConvTokenizer : public Stem {
 public:
  // `stride` 4: NAT's two stride-2 convs; 2: the second conv keeps the resolution.
  // `activation`: a GELU between the convs (NATConfig::stem_activation); `hidden`: the channels
  // between them (0: embed_dim / 2); `extra_convs`: 3x3 stride-1 conv + GELU pairs at the
  // hidden resolution, after the first conv's GELU (NATConfig::stem_convs).
  ConvTokenizer(int64_t in_chans, int64_t embed_dim, int64_t stride = 4, bool activation = false,
                int64_t hidden = 0, int64_t extra_convs = 0);
  at::Tensor forward(const at::Tensor& images) override;

  torch::nn::Sequential proj{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};

// NAT: reduction = conv3x3 s2 (C -> 2C, no bias), then norm(2C).
class ConvDownsampler : public Downsampler {
 public:
  explicit ConvDownsampler(int64_t dim);
  at::Tensor forward(const at::Tensor& x) override;

  torch::nn::Conv2d reduction{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};

// DiNAT_s (from Swin): proj = conv4x4 s4 after zero-padding H, W up to a multiple of 4, norm.
class PatchEmbed : public Stem {
 public:
  PatchEmbed(int64_t in_chans, int64_t embed_dim, int64_t patch_size = 4);
  at::Tensor forward(const at::Tensor& images) override;

  torch::nn::Conv2d proj{nullptr};
  torch::nn::LayerNorm norm{nullptr};

 private:
  int64_t patch_;
};

// DiNAT_s (Swin's PatchMerging): pad odd sides, concatenate the 2x2 neighbours in Swin's
// order (x[0::2,0::2], x[1::2,0::2], x[0::2,1::2], x[1::2,1::2]), norm(4C), reduction
// Linear(4C -> 2C, no bias).
class PatchMerging : public Downsampler {
 public:
  explicit PatchMerging(int64_t dim);
  at::Tensor forward(const at::Tensor& x) override;

  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear reduction{nullptr};
};

}  // namespace vitrine::models
