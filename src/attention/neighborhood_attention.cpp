#include "attention/neighborhood_attention.h"

#include <ATen/ATen.h>

#include <cmath>

#include "attention/ops/na_functional.h"
#include "layers/weight_init.h"

namespace vitrine::attention {
namespace {

// Expands a one-entry list to every axis; rejects other lengths.
template <typename T>
std::vector<T> per_axis(const std::vector<T>& values, int axes, const char* what) {
  TORCH_CHECK(values.size() == 1 || static_cast<int>(values.size()) == axes,
              "NeighborhoodAttention", axes, "D: ", what, " must have 1 or ", axes,
              " entries, got ", values.size());
  return values.size() == 1 ? std::vector<T>(axes, values[0]) : values;
}

}  // namespace

NeighborhoodAttentionImpl::NeighborhoodAttentionImpl(int axes, NeighborhoodAttentionOptions o)
    : axes_(axes), options_(std::move(o)) {
  TORCH_CHECK(axes >= 1 && axes <= 3, "NeighborhoodAttention: axes must be 1, 2 or 3, got ", axes);
  const std::string name = "NeighborhoodAttention" + std::to_string(axes) + "D";
  TORCH_CHECK(options_.dim > 0 && options_.num_heads > 0 && options_.dim % options_.num_heads == 0,
              name, ": dim ", options_.dim, " must be a positive multiple of num_heads ",
              options_.num_heads);
  options_.kernel_size = per_axis(options_.kernel_size, axes, "kernel_size");
  options_.dilation = per_axis(options_.dilation, axes, "dilation");
  options_.is_causal = per_axis(options_.is_causal, axes, "is_causal");
  for (int a = 0; a < axes; ++a) {
    TORCH_CHECK(options_.kernel_size[a] >= 1 && options_.kernel_size[a] % 2 == 1, name,
                ": kernel_size must be odd, got ", options_.kernel_size[a], " on axis ", a);
    TORCH_CHECK(options_.dilation[a] >= 1, name, ": dilation must be >= 1, got ",
                options_.dilation[a], " on axis ", a);
    TORCH_CHECK(!(options_.rpb && options_.is_causal[a]), name,
                ": relative positional bias cannot be combined with a causal axis (axis ", a, ")");
  }
  head_dim_ = options_.dim / options_.num_heads;
  scale_ = options_.qk_scale > 0 ? options_.qk_scale : 1.0 / std::sqrt(double(head_dim_));

  qkv = register_module(
      "qkv", torch::nn::Linear(
                 torch::nn::LinearOptions(options_.dim, 3 * options_.dim).bias(options_.qkv_bias)));
  if (options_.rpb) {
    std::vector<int64_t> shape{options_.num_heads};
    for (int64_t k : options_.kernel_size) shape.push_back(2 * k - 1);
    rpb = register_parameter("rpb", at::zeros(shape));
    layers::trunc_normal_(rpb, 0.02);
  }
  attn_drop = register_module("attn_drop", layers::Dropout(options_.attn_drop));
  proj = register_module("proj", torch::nn::Linear(options_.dim, options_.dim));
  proj_drop = register_module("proj_drop", layers::Dropout(options_.proj_drop));
}

at::Tensor NeighborhoodAttentionImpl::forward(const at::Tensor& input) {
  TORCH_CHECK(input.dim() == axes_ + 2 && input.size(-1) == options_.dim, "NeighborhoodAttention",
              axes_, "D: expected [B, ",
              axes_ == 1   ? "L"
              : axes_ == 2 ? "H, W"
                           : "D, H, W",
              ", ", options_.dim, "], got ", input.sizes());
  // Short axes are padded up to kernel_size * dilation (as the official module does), then
  // the output is cropped back.
  std::vector<int64_t> padded_shape = input.sizes().vec();
  padded_shape.back() = 3 * options_.dim;
  bool padded = false;
  for (int a = 0; a < axes_; ++a) {
    const int64_t need = options_.kernel_size[a] * options_.dilation[a];
    padded |= input.size(1 + a) < need;
    padded_shape[1 + a] = std::max(input.size(1 + a), need);
  }

  at::Tensor projected = qkv(input);
  if (padded) {
    // The official module pads the input with zeros before qkv, so a padding token's q, k and
    // v are qkv's bias. Projecting the real tokens only and filling the rest with the bias is
    // the same (for the embedded default's 2x2 last level, padded to 3x3, it is less than half
    // the projection's work).
    at::Tensor filled = qkv->bias.defined()
                            ? qkv->bias.expand(padded_shape).clone(at::MemoryFormat::Contiguous)
                            : at::zeros(padded_shape, projected.options());
    at::Tensor real = filled;
    for (int a = 0; a < axes_; ++a) real = real.narrow(1 + a, 0, input.size(1 + a));
    real.copy_(projected);
    projected = filled;
  }

  NaOptions na_options{options_.kernel_size, options_.dilation, options_.is_causal};
  c10::optional<at::Tensor> bias;
  if (rpb.defined()) bias = rpb;
  at::Tensor out;  // [B, *S, C]
  if (is_training() && options_.attn_drop > 0) {
    // Dropout on the attention weights needs them materialised: the unfused pair, on
    // [B, heads, *S, head_dim] tensors.
    const std::vector<at::Tensor> qkv_split = split_packed_qkv(projected, options_.num_heads);
    at::Tensor attn = at::softmax(na_qk(qkv_split[0] * scale_, qkv_split[1], bias, na_options), -1);
    out = na_av(attn_drop(attn), qkv_split[2], na_options).movedim(1, -2).flatten(-2);
  } else {
    // Straight from qkv's layout to proj's: on float32 CPU tensors the kernels read q, k, v
    // and write the output and the gradients in place, with no copies in between (~8% of a
    // training step of the embedded default went to them).
    out = neighborhood_attention_packed(projected, options_.num_heads, bias, na_options, scale_);
  }
  if (padded)
    for (int a = 0; a < axes_; ++a) out = out.narrow(1 + a, 0, input.size(1 + a));
  return proj_drop(proj(out));
}

}  // namespace vitrine::attention
