// Lambda layer (Bello, "LambdaNetworks: Modeling Long-Range Interactions Without Attention"),
// as timm implements it (layers/lambda_layer.py, intra-depth u = 1), with its parameter names
// (`qkv`, `norm_q`, `norm_v`, `conv_lambda` or `pos_emb`) so timm checkpoints load by name.
//
// One 1x1 conv makes queries (heads x k), keys (k) and values (v = dim_out / heads); queries
// and values are batch-normalised, keys softmax-normalised over positions. Content lambda
// lambda_c = softmax(K) V^T [k, v], shared by every position; position lambdas either from a
// local "lambda convolution" of the values (a 3-D conv with an r x r x 1 kernel, 1 -> k
// channels; any map size) or, when r = 0, from a relative embedding table pos_emb
// [2H-1, 2W-1, k] over the whole map (built for one map size). Output per head:
// q . (lambda_c + lambda_p(n)); stride 2 average-pools it.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/pooling.h>

#include "layers/batch_norm.h"

namespace vitrine::attention {

struct LambdaLayerOptions {
  int64_t dim = 0;
  int64_t dim_out = 0;  // 0: dim
  int64_t stride = 1;   // 1 or 2 (2x2 average pool)
  int64_t num_heads = 4;
  int64_t dim_head = 16;          // k; 0: make_divisible(dim_out * qk_ratio, 8) / heads
  int64_t r = 9;                  // lambda-conv size; 0: relative position embedding
  int64_t height = 0, width = 0;  // the map size (r = 0 only)
  double qk_ratio = 1.0;
  bool qkv_bias = false;
};

class LambdaLayerImpl : public torch::nn::Module {
 public:
  explicit LambdaLayerImpl(LambdaLayerOptions options);

  // [B, dim, H, W] -> [B, dim_out, H / stride, W / stride].
  at::Tensor forward(const at::Tensor& x);
  void reset_parameters();
  // Multiply-adds for one image of h x w.
  double macs(int64_t h, int64_t w) const;

  const LambdaLayerOptions& options() const { return options_; }
  int64_t dim_qk() const { return dim_qk_; }
  int64_t dim_v() const { return dim_v_; }
  // [2, M, M] with M = H * W: the table row/column of key j for query i (r = 0).
  at::Tensor relative_indices(const at::Device& device) const;

  torch::nn::Conv2d qkv{nullptr};
  layers::BatchNorm2d norm_q{nullptr}, norm_v{nullptr};
  torch::nn::Conv3d conv_lambda{nullptr};  // r > 0
  at::Tensor pos_emb;                      // r = 0: [2H - 1, 2W - 1, k]
  torch::nn::AvgPool2d pool{nullptr};      // stride 2

 private:
  LambdaLayerOptions options_;
  int64_t dim_qk_, dim_v_;
};
TORCH_MODULE(LambdaLayer);

}  // namespace vitrine::attention
