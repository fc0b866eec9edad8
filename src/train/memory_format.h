// Channels-last (NHWC) memory order for models and image batches, as PyTorch's
// model.to(memory_format=torch.channels_last) and images.to(memory_format=...) do: faster
// convolutions where the kernels prefer it (cuDNN on tensor-core GPUs). Shapes and values are
// unchanged; only strides move.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

namespace vitrine::train {

// Every 4-D parameter and buffer of `model` (convolution weights) in channels-last order.
void to_channels_last(torch::nn::Module& model);

// `images` in channels-last order when it is a 4-D batch; anything else unchanged.
at::Tensor channels_last_images(const at::Tensor& images);

}  // namespace vitrine::train
