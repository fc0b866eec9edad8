// Factorised 2-D relative position logits (Bello et al., "Attention Augmented Convolutional
// Networks"), the `pos_embed` of timm's halo and bottleneck attention (PosEmbedRel), with its
// parameter names `height_rel` and `width_rel`.
//
// Queries sit on a query_h x query_w grid and keys on a key_h x key_w grid that shares its
// origin; query (y, x) and key (ky, kx) get
//   q . height_rel[ky - y + key_h - 1] + q . width_rel[kx - x + key_w - 1].
// Halo attention: a block of queries against its (block + 2 halo) window; bottleneck
// attention: the whole map against itself.
#pragma once

#include <torch/nn/module.h>

namespace vitrine::attention {

class RelativePosition2dImpl : public torch::nn::Module {
 public:
  RelativePosition2dImpl(int64_t query_h, int64_t query_w, int64_t key_h, int64_t key_w,
                         int64_t dim_head, double init_std);

  // q [..., query_h * query_w, dim_head] -> logits [..., query_h * query_w, key_h * key_w].
  at::Tensor forward(const at::Tensor& q);
  // Re-draws the tables from trunc_normal(init_std), as timm's reset_parameters does.
  void reset_parameters();

  at::Tensor height_rel;  // [2 * key_h - 1, dim_head]
  at::Tensor width_rel;   // [2 * key_w - 1, dim_head]

 private:
  int64_t query_h_, query_w_, key_h_, key_w_;
  double init_std_;
};
TORCH_MODULE(RelativePosition2d);

}  // namespace vitrine::attention
