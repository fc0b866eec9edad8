#include "attention/lambda_layer.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cmath>

#include "attention/head_widths.h"
#include "layers/weight_init.h"

namespace vitrine::attention {

LambdaLayerImpl::LambdaLayerImpl(LambdaLayerOptions options) : options_(options) {
  LambdaLayerOptions& o = options_;
  if (o.dim_out == 0) o.dim_out = o.dim;
  TORCH_CHECK(o.r >= 0 && (o.r == 0 || o.r % 2 == 1),
              "LambdaLayer: r (the lambda convolution size) must be odd, or 0 for a relative "
              "position embedding; got ",
              o.r);
  TORCH_CHECK(o.r > 0 || (o.height > 0 && o.width > 0),
              "LambdaLayer: r = 0 (relative position embedding) needs the map size (height, "
              "width); the model must be built for a fixed input size");
  const HeadWidths widths =
      head_widths("LambdaLayer", o.dim, o.dim_out, o.num_heads, o.dim_head, o.qk_ratio, o.stride);
  dim_qk_ = widths.qk;
  dim_v_ = widths.v;
  qkv = register_module(
      "qkv",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(o.dim, o.num_heads * dim_qk_ + dim_qk_ + dim_v_, 1)
                            .bias(o.qkv_bias)));
  norm_q = register_module("norm_q", layers::BatchNorm2d(o.num_heads * dim_qk_));
  norm_v = register_module("norm_v", layers::BatchNorm2d(dim_v_));
  if (o.r > 0) {
    conv_lambda = register_module(
        "conv_lambda", torch::nn::Conv3d(torch::nn::Conv3dOptions(1, dim_qk_, {o.r, o.r, 1})
                                             .padding(std::vector<int64_t>{o.r / 2, o.r / 2, 0})));
  } else {
    pos_emb =
        register_parameter("pos_emb", at::empty({2 * o.height - 1, 2 * o.width - 1, dim_qk_}));
  }
  if (o.stride == 2)
    pool = register_module("pool", torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions(2).stride(2)));
  reset_parameters();
}

void LambdaLayerImpl::reset_parameters() {
  at::NoGradGuard no_grad;
  layers::trunc_normal_(qkv->weight, std::pow(static_cast<double>(options_.dim), -0.5));  // fan-in
  if (conv_lambda)
    layers::trunc_normal_(conv_lambda->weight, std::pow(static_cast<double>(dim_qk_), -0.5));
  if (pos_emb.defined()) layers::trunc_normal_(pos_emb, 0.02);
}

at::Tensor LambdaLayerImpl::relative_indices(const at::Device& device) const {
  const int64_t H = options_.height, W = options_.width;
  const auto opts = at::TensorOptions(at::kLong).device(device);
  const at::Tensor y = at::arange(H, opts).repeat_interleave(W);  // position -> row
  const at::Tensor x = at::arange(W, opts).repeat({H});           // position -> column
  // [i][j] = position j - position i + size - 1
  return at::stack(
      {y.unsqueeze(0) - y.unsqueeze(1) + (H - 1), x.unsqueeze(0) - x.unsqueeze(1) + (W - 1)});
}

at::Tensor LambdaLayerImpl::forward(const at::Tensor& x) {
  const LambdaLayerOptions& o = options_;
  TORCH_CHECK(x.dim() == 4 && x.size(1) == o.dim, "LambdaLayer: expected [B, ", o.dim,
              ", H, W], got shape ", x.sizes());
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3), M = H * W;
  if (o.r == 0)
    TORCH_CHECK(H == o.height && W == o.width, "LambdaLayer: built for a ", o.height, "x", o.width,
                " feature map (relative position embedding), got ", H, "x", W);
  const int64_t heads = o.num_heads, k = dim_qk_, v = dim_v_;
  const at::Tensor y = qkv->forward(x);
  const at::Tensor q = norm_q->forward(y.narrow(1, 0, heads * k))
                           .reshape({B, heads, k, M})
                           .transpose(-1, -2);  // [B, heads, M, k]
  const at::Tensor values = norm_v->forward(y.narrow(1, heads * k + k, v))
                                .reshape({B, v, M})
                                .transpose(-1, -2);  // [B, M, v]
  const at::Tensor keys =
      at::softmax(y.narrow(1, heads * k, k).reshape({B, k, M}), -1);  // [B, k, M]

  const at::Tensor content_lambda = at::matmul(keys, values);                 // [B, k, v]
  const at::Tensor content_out = at::matmul(q, content_lambda.unsqueeze(1));  // [B, heads, M, v]
  at::Tensor position_lambda;                                                 // [B, 1, M, k, v]
  if (conv_lambda) {
    // The values as a 1-channel volume [B, 1, H, W, v]; the r x r x 1 kernel mixes positions
    // only, giving [B, k, H, W, v].
    position_lambda = conv_lambda->forward(values.reshape({B, 1, H, W, v}))
                          .reshape({B, 1, k, M, v})
                          .transpose(2, 3);
  } else {
    const at::Tensor index = relative_indices(x.device());
    const at::Tensor table = pos_emb.index({index[0], index[1]});  // [M, M, k]
    position_lambda = at::matmul(table.transpose(-1, -2).unsqueeze(0), values.unsqueeze(1))
                          .unsqueeze(1);  // [B, 1, M, k, v]
  }
  const at::Tensor position_out =
      at::matmul(q.unsqueeze(-2), position_lambda).squeeze(-2);  // [B, heads, M, v]
  at::Tensor out = (content_out + position_out).transpose(-1, -2).reshape({B, heads * v, H, W});
  return pool ? pool->forward(out) : out;
}

double LambdaLayerImpl::macs(int64_t h, int64_t w) const {
  const LambdaLayerOptions& o = options_;
  const double m = static_cast<double>(h) * w, k = static_cast<double>(dim_qk_),
               v = static_cast<double>(dim_v_), heads = static_cast<double>(o.num_heads);
  const double qkv_macs = m * o.dim * (heads * k + k + v);
  const double content = m * k * v + heads * m * k * v;
  const double position =
      o.r > 0 ? m * v * k * o.r * o.r + heads * m * k * v : m * m * k * v + heads * m * k * v;
  return qkv_macs + content + position;
}

}  // namespace vitrine::attention
