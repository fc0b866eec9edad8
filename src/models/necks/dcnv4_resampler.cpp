#include "models/necks/dcnv4_resampler.h"

#include <ATen/ATen.h>
#include <torch/nn/init.h>

#include <cmath>

#include "core/error.h"
#include "layers/gelu.h"

namespace vitrine::models {

DCNv4ResamplerImpl::DCNv4ResamplerImpl(int64_t channels, int64_t groups, double offset_scale,
                                       bool output_bias)
    : channels_(channels), groups_(groups), offset_scale_(offset_scale) {
  if (groups < 1 || channels % groups != 0)
    throw ConfigError("DCNv4: " + std::to_string(channels) + " channels are not divisible by " +
                      std::to_string(groups) + " groups");
  // The official module sits under `resampling` with the norm beside it.
  auto dcn = register_module("resampling", std::make_shared<torch::nn::Module>());
  offset_mask_dw = dcn->register_module(
      "offset_mask_dw",
      torch::nn::Conv2d(
          torch::nn::Conv2dOptions(channels, channels, 3).padding(1).groups(channels)));
  const int64_t width = static_cast<int64_t>(std::ceil(groups * 27 / 8.0)) * 8;
  offset_mask = dcn->register_module("offset_mask", torch::nn::Linear(channels, width));
  value_proj = dcn->register_module("value_proj", torch::nn::Linear(channels, channels));
  output_proj = dcn->register_module(
      "output_proj",
      torch::nn::Linear(torch::nn::LinearOptions(channels, channels).bias(output_bias)));
  norm = register_module("norm", ChannelLayerNorm(channels));
  torch::NoGradGuard no_grad;
  offset_mask->weight.zero_();
  offset_mask->bias.zero_();
  torch::nn::init::xavier_uniform_(value_proj->weight);
  value_proj->bias.zero_();
  torch::nn::init::xavier_uniform_(output_proj->weight);
  if (output_bias) output_proj->bias.zero_();
}

at::Tensor DCNv4ResamplerImpl::forward(const at::Tensor& context, const at::Tensor& feature) {
  const int64_t B = feature.size(0), C = channels_, H = feature.size(2), W = feature.size(3);
  const int64_t G = groups_, D = C / G, P = 9;
  // Values [B G, D, H, W] after the pointwise projection.
  const at::Tensor value = value_proj
                               ->forward(feature.permute({0, 2, 3, 1}))  // [B, H, W, C]
                               .view({B, H, W, G, D})
                               .permute({0, 3, 4, 1, 2})
                               .reshape({B * G, D, H, W});
  const at::Tensor om = offset_mask->forward(offset_mask_dw->forward(context).permute({0, 2, 3, 1}))
                            .narrow(-1, 0, G * P * 3)
                            .view({B, H, W, G, 3 * P});
  const at::Tensor offsets = om.narrow(-1, 0, 2 * P).view({B, H, W, G, P, 2});
  const at::Tensor masks = om.narrow(-1, 2 * P, P);  // [B, H, W, G, P]
  // Kernel points x-major: (i, j) for i in x, j in y.
  const at::Tensor k = at::arange(-1, 2, feature.options());
  const at::Tensor kx = k.repeat_interleave(3), ky = k.repeat({3});
  const at::Tensor base_x = at::arange(W, feature.options()).view({1, 1, W, 1, 1});
  const at::Tensor base_y = at::arange(H, feature.options()).view({1, H, 1, 1, 1});
  const at::Tensor loc_x =
      base_x + (kx.view({1, 1, 1, 1, P}) + offsets.select(-1, 0)) * offset_scale_;
  const at::Tensor loc_y =
      base_y + (ky.view({1, 1, 1, 1, P}) + offsets.select(-1, 1)) * offset_scale_;
  // grid_sample (align_corners false): pixel index u maps to 2 (u + 0.5) / size - 1.
  const at::Tensor grid =
      at::stack({(loc_x + 0.5) * (2.0 / W) - 1, (loc_y + 0.5) * (2.0 / H) - 1}, -1)
          .permute({0, 3, 1, 2, 4, 5})  // [B, G, H, W, P, 2]
          .reshape({B * G, H, W * P, 2});
  const at::Tensor sampled = at::grid_sampler(value, grid, 0, 0, false)  // bilinear, zeros
                                 .view({B * G, D, H, W, P});
  const at::Tensor weights = masks.permute({0, 3, 1, 2, 4}).reshape({B * G, 1, H, W, P});
  const at::Tensor out = (sampled * weights)
                             .sum(-1)  // [B G, D, H, W]
                             .view({B, G, D, H, W})
                             .permute({0, 3, 4, 1, 2})
                             .reshape({B, H, W, C});
  const at::Tensor projected = output_proj->forward(out).permute({0, 3, 1, 2});
  return layers::gelu(norm->forward(projected));
}

}  // namespace vitrine::models
