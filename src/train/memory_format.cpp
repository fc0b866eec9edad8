#include "train/memory_format.h"

namespace vitrine::train {

void to_channels_last(torch::nn::Module& model) {
  at::NoGradGuard no_grad;
  // set_data keeps each tensor's identity, so optimisers built later (or already holding the
  // parameters) see the reordered storage.
  for (at::Tensor& p : model.parameters())
    if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  for (at::Tensor& b : model.buffers())
    if (b.dim() == 4) b.set_data(b.contiguous(at::MemoryFormat::ChannelsLast));
}

at::Tensor channels_last_images(const at::Tensor& images) {
  return images.dim() == 4 ? images.contiguous(at::MemoryFormat::ChannelsLast) : images;
}

}  // namespace vitrine::train
