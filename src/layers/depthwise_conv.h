// Depthwise 3x3 (any odd k) convolution, stride 1, "same" padding, on channels-last maps
// [B, H, W, C] — the conv inside ConvFFN (mlp_dwconv of NAT, CATANet's feed-forward).
// libtorch 1.13's CPU depthwise convolution spends ~2 ms per forward+backward on a
// 64x7x7x96 map (its weight gradient above all), a fifth of a dinat_nano training step; this
// op runs the same arithmetic as contiguous channel rows. Registered as torch ops
// (vitrine::depthwise_conv2d_nhwc and its backward) so exported models keep it.
//
// Numbers: the same sums as torch's conv2d (groups = C, weight [C, 1, k, k], bias [C]) in a
// fixed order: forward bias + taps row by row; the weight and bias gradients sum fixed chunks
// of 8 images, then the chunks in order, so the result does not depend on the thread count.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>

namespace vitrine::layers {

// input [B, H, W, C] (any strides), weight [C, 1, k, k] with k odd, bias [C] or none ->
// [B, H, W, C] contiguous. CPU float32/float64 run the op; other devices and dtypes (CUDA,
// bf16 autocast) run torch's conv2d on the permuted map, which gives the same values.
at::Tensor depthwise_conv2d_nhwc(const at::Tensor& input, const at::Tensor& weight,
                                 const std::optional<at::Tensor>& bias);

// While one lives on a thread, depthwise_conv2d_nhwc runs torch's conv2d there instead of the
// op: TorchScript export's portable flavour traces stock ops only.
class StockDepthwiseScope {
 public:
  StockDepthwiseScope();
  ~StockDepthwiseScope();
  StockDepthwiseScope(const StockDepthwiseScope&) = delete;
  StockDepthwiseScope& operator=(const StockDepthwiseScope&) = delete;

 private:
  bool previous_;
};

}  // namespace vitrine::layers
