// Content-aware token aggregation (CATANet, Liu et al., CVPR 2025), as the official
// EquationWalker/CATANet code builds its TAB block, with its names (`norm`, `mlp.norm`,
// `mlp.fn.*`, `irca_attn.to_k/to_v`, `iasa_attn.to_q/to_k/to_v/proj`, `conv1x1`, and the
// buffers `means` and `initted`).
//
// Token centres (`means` [num_tokens, dim]) are shared by every image: the first training call
// seeds them with the means of contiguous token chunks; in training, spherical k-means refines
// them (n_iter - 1 steps without gradient, one with) and after the forward the buffer follows
// them by EMA (decay 0.999; copied the first time); in evaluation the buffer is used as is.
// Each token joins its most similar centre (cosine); tokens are sorted by centre (stable), cut
// into groups of gs = min(N, group_size) (the tail padded by mirroring), and
//   IASA: each group's queries attend to its own and the next group's keys/values (2 gs),
//   IRCA: the same queries attend to to_k/to_v of the centres,
// with separate softmaxes, summed, put back in token order, then `proj`; y = conv1x1(y) joins
// the residual, then x + ConvFFN(LN(x)).
//
// Where the official code would fail (a sequence too short to mirror, N - pad - gs < 0, or
// fewer tokens than centres), the mirror padding continues by reflection instead; it equals
// the official padding wherever that one works.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "layers/conv_ffn.h"

namespace vitrine::attention {

// One spherical k-means step (the official center_iter): x [B, N, d] and means [K, d], both
// unit rows; every token joins its most similar centre, each centre becomes the normalised
// sum of its tokens over the whole batch, centres without tokens stay.
at::Tensor spherical_kmeans_step(const at::Tensor& x, const at::Tensor& means);

// Indices [0, length) extended to `padded` by mirroring at the end (N-1, N-2, ...) and, if
// needed, reflecting on: the official `cat(x, flip(x[N - m:N]))` for m <= N.
at::Tensor mirror_pad_index(int64_t length, int64_t padded, const at::Device& device);

// Reorders tokens x [B, N, C] by order [B, N] (x[b, order[b, i]] to position i), and back.
at::Tensor gather_tokens(const at::Tensor& x, const at::Tensor& order);
at::Tensor scatter_tokens(const at::Tensor& y, const at::Tensor& order);

// IASA + IRCA on tokens already in centre order: q, k, v [B, N, heads * d] (v's head width may
// differ); k_global, v_global [heads, K, d]. Returns [B, N, heads * dv] in the same order.
at::Tensor grouped_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             const at::Tensor& k_global, const at::Tensor& v_global, int64_t heads,
                             int64_t group_size);

struct TokenAggregationOptions {
  int64_t dim = 40;
  int64_t qk_dim = 36;
  int64_t mlp_dim = 96;
  int64_t heads = 4;
  int64_t n_iter = 5;
  int64_t num_tokens = 16;
  int64_t group_size = 256;
  double ema_decay = 0.999;
};

class TokenAggregationBlockImpl : public torch::nn::Module {
 public:
  explicit TokenAggregationBlockImpl(TokenAggregationOptions options);

  // x [B, dim, h, w] -> [B, dim, h, w]. In training mode also updates `means` (not thread-safe:
  // one forward at a time).
  at::Tensor forward(const at::Tensor& x);
  // The centres the attention used in the last forward ([num_tokens, dim], detached).
  const at::Tensor& last_centres() const { return last_centres_; }
  bool initialised() const;
  const TokenAggregationOptions& options() const { return options_; }
  double macs(int64_t h, int64_t w) const;

  torch::nn::LayerNorm norm{nullptr};
  torch::nn::LayerNorm mlp_norm{nullptr};  // mlp.norm
  layers::ConvFFN mlp_fn{nullptr};         // mlp.fn
  torch::nn::Linear irca_to_k{nullptr}, irca_to_v{nullptr};
  torch::nn::Linear iasa_to_q{nullptr}, iasa_to_k{nullptr}, iasa_to_v{nullptr}, iasa_proj{nullptr};
  torch::nn::Conv2d conv1x1{nullptr};
  at::Tensor means, initted;

 private:
  at::Tensor seed_centres(const at::Tensor& x) const;

  TokenAggregationOptions options_;
  at::Tensor last_centres_;
};
TORCH_MODULE(TokenAggregationBlock);

}  // namespace vitrine::attention
