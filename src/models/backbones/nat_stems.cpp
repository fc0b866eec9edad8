#include "models/backbones/nat_stems.h"

#include <ATen/ATen.h>

#include "layers/gelu.h"

namespace vitrine::models {
namespace {

torch::nn::Conv2d conv3x3_s2(int64_t in, int64_t out, bool bias) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(2).padding(1).bias(bias));
}

torch::nn::LayerNorm layer_norm(int64_t dim) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}));
}

}  // namespace

ConvTokenizer::ConvTokenizer(int64_t in_chans, int64_t embed_dim, int64_t stride, bool activation,
                             int64_t hidden, int64_t extra_convs) {
  if (hidden <= 0) hidden = embed_dim / 2;
  torch::nn::Sequential seq;
  seq->push_back(conv3x3_s2(in_chans, hidden, true));
  if (activation) seq->push_back(layers::Gelu());
  for (int64_t i = 0; i < extra_convs; ++i) {
    seq->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(hidden, hidden, 3).padding(1)));
    seq->push_back(layers::Gelu());
  }
  seq->push_back(torch::nn::Conv2d(
      torch::nn::Conv2dOptions(hidden, embed_dim, 3).stride(stride == 4 ? 2 : 1).padding(1)));
  proj = register_module("proj", seq);
  norm = register_module("norm", layer_norm(embed_dim));
}

at::Tensor ConvTokenizer::forward(const at::Tensor& images) {
  return norm(proj->forward(images).permute({0, 2, 3, 1}));
}

ConvDownsampler::ConvDownsampler(int64_t dim) {
  reduction = register_module("reduction", conv3x3_s2(dim, 2 * dim, false));
  norm = register_module("norm", layer_norm(2 * dim));
}

at::Tensor ConvDownsampler::forward(const at::Tensor& x) {
  return norm(reduction(x.permute({0, 3, 1, 2})).permute({0, 2, 3, 1}));
}

PatchEmbed::PatchEmbed(int64_t in_chans, int64_t embed_dim, int64_t patch_size)
    : patch_(patch_size) {
  proj = register_module(
      "proj", torch::nn::Conv2d(
                  torch::nn::Conv2dOptions(in_chans, embed_dim, patch_size).stride(patch_size)));
  norm = register_module("norm", layer_norm(embed_dim));
}

at::Tensor PatchEmbed::forward(const at::Tensor& images) {
  const int64_t pad_w = (patch_ - images.size(3) % patch_) % patch_;
  const int64_t pad_h = (patch_ - images.size(2) % patch_) % patch_;
  at::Tensor x = (pad_w || pad_h) ? at::constant_pad_nd(images, {0, pad_w, 0, pad_h}, 0) : images;
  return norm(proj(x).permute({0, 2, 3, 1}));
}

PatchMerging::PatchMerging(int64_t dim) {
  norm = register_module("norm", layer_norm(4 * dim));
  reduction = register_module(
      "reduction", torch::nn::Linear(torch::nn::LinearOptions(4 * dim, 2 * dim).bias(false)));
}

at::Tensor PatchMerging::forward(const at::Tensor& input) {
  at::Tensor x = input;
  const int64_t H = x.size(1), W = x.size(2);
  if (H % 2 == 1 || W % 2 == 1) x = at::constant_pad_nd(x, {0, 0, 0, W % 2, 0, H % 2}, 0);
  using at::indexing::None;
  using at::indexing::Slice;
  at::Tensor x0 = x.index({Slice(), Slice(0, None, 2), Slice(0, None, 2)});
  at::Tensor x1 = x.index({Slice(), Slice(1, None, 2), Slice(0, None, 2)});
  at::Tensor x2 = x.index({Slice(), Slice(0, None, 2), Slice(1, None, 2)});
  at::Tensor x3 = x.index({Slice(), Slice(1, None, 2), Slice(1, None, 2)});
  return reduction(norm(at::cat({x0, x1, x2, x3}, -1)));
}

}  // namespace vitrine::models
