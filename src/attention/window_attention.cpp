#include "attention/window_attention.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cmath>

#include "layers/weight_init.h"

namespace vitrine::attention {

WindowAttentionImpl::WindowAttentionImpl(WindowAttentionOptions o) : options_(o) {
  TORCH_CHECK(o.dim > 0 && o.num_heads > 0 && o.dim % o.num_heads == 0, "WindowAttention: dim ",
              o.dim, " must be a positive multiple of num_heads ", o.num_heads);
  const int64_t w = o.window_size;
  scale_ = std::pow(static_cast<double>(o.dim / o.num_heads), -0.5);
  at::Tensor table = at::zeros({(2 * w - 1) * (2 * w - 1), o.num_heads});
  layers::trunc_normal_(table, 0.02);
  relative_position_bias_table = register_parameter("relative_position_bias_table", table);
  // index[i][j] = (yi - yj + w - 1) * (2w - 1) + (xi - xj + w - 1) for window positions i, j.
  const at::Tensor pos = at::arange(w * w, at::kLong);
  const at::Tensor y = at::floor_divide(pos, w), x = at::remainder(pos, w);
  const at::Tensor dy = y.unsqueeze(1) - y.unsqueeze(0) + (w - 1);
  const at::Tensor dx = x.unsqueeze(1) - x.unsqueeze(0) + (w - 1);
  relative_position_index = register_buffer("relative_position_index", dy * (2 * w - 1) + dx);
  qkv = register_module(
      "qkv", torch::nn::Linear(torch::nn::LinearOptions(o.dim, 3 * o.dim).bias(o.qkv_bias)));
  attn_drop = register_module("attn_drop", layers::Dropout(o.attn_drop));
  proj = register_module("proj", torch::nn::Linear(o.dim, o.dim));
  proj_drop = register_module("proj_drop", layers::Dropout(o.proj_drop));
}

at::Tensor WindowAttentionImpl::position_bias() const {
  const int64_t n = options_.window_size * options_.window_size;
  // libtorch's Module::to(dtype) converts integer buffers too: index with int64 regardless.
  return relative_position_bias_table
      .index_select(0, relative_position_index.view(-1).to(at::kLong))
      .view({n, n, -1})
      .permute({2, 0, 1});
}

at::Tensor WindowAttentionImpl::forward(const at::Tensor& x, const at::Tensor& mask) {
  const int64_t b = x.size(0), n = x.size(1), c = x.size(2), heads = options_.num_heads;
  TORCH_CHECK(n == options_.window_size * options_.window_size && c == options_.dim,
              "WindowAttention: expected [windows, ", options_.window_size * options_.window_size,
              ", ", options_.dim, "], got shape ", x.sizes());
  // unbind: one stacked gradient in backward instead of three zero-filled qkv-sized ones.
  const std::vector<at::Tensor> qkv_out =
      qkv->forward(x).reshape({b, n, 3, heads, c / heads}).permute({2, 0, 3, 1, 4}).unbind(0);
  at::Tensor attn =
      at::matmul(qkv_out[0] * scale_, qkv_out[1].transpose(-2, -1)) + position_bias().unsqueeze(0);
  if (mask.defined()) {
    const int64_t windows = mask.size(0);
    attn = (attn.view({b / windows, windows, heads, n, n}) + mask.unsqueeze(1).unsqueeze(0))
               .view({-1, heads, n, n});
  }
  attn = attn_drop->forward(at::softmax(attn, -1));
  return proj_drop->forward(
      proj->forward(at::matmul(attn, qkv_out[2]).transpose(1, 2).reshape({b, n, c})));
}

}  // namespace vitrine::attention
