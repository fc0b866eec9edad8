#include "models/backbones/nat.h"

#include <ATen/ATen.h>

#include "core/error.h"
#include "layers/weight_init.h"
#include "models/backbones/nat_complexity.h"

namespace vitrine::models {

NATLevelImpl::NATLevelImpl(std::vector<NATLayer> layers_in, std::shared_ptr<Downsampler> down)
    : layers(std::move(layers_in)), downsample(std::move(down)) {
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (const NATLayer& layer : layers) blocks->push_back(layer);
  if (downsample) register_module("downsample", downsample);
}

at::Tensor NATLevelImpl::forward_blocks(at::Tensor x) {
  for (NATLayer& layer : layers) x = layer(x);
  return x;
}

NAT::NAT(NATConfig config) : config_(std::move(config)) {
  config_.validate("model");
  const NATConfig& c = config_;
  const bool nat_layout = c.layout == NATLayout::kNAT;
  if (nat_layout)
    patch_embed_ = std::make_shared<ConvTokenizer>(c.in_chans, c.embed_dim, c.stem_stride,
                                                   c.stem_activation, c.stem_width, c.stem_convs);
  else
    patch_embed_ = std::make_shared<PatchEmbed>(c.in_chans, c.embed_dim);
  register_module("patch_embed", patch_embed_);
  pos_drop_ = register_module("pos_drop", layers::Dropout(c.drop_rate));

  int64_t total = 0;
  for (int64_t d : c.depths) total += d;
  const std::vector<double> rates = layers::drop_path_rates(c.drop_path_rate, total);

  auto stages = register_module(nat_layout ? "levels" : "layers", torch::nn::ModuleList());
  int64_t layer_index = 0;
  for (size_t i = 0; i < c.depths.size(); ++i) {
    const int64_t dim = c.embed_dim << i;
    std::vector<NATLayer> layers;
    for (int64_t j = 0; j < c.depths[i]; ++j, ++layer_index) {
      NATLayerOptions o;
      o.dim = dim;
      o.num_heads = c.num_heads[i];
      o.kernel_size = c.kernel_size;
      o.dilation = c.dilation(i, static_cast<size_t>(j));
      o.mlp_ratio = c.mlp_ratio;
      o.qkv_bias = c.qkv_bias;
      o.qk_scale = c.qk_scale;
      o.drop = c.drop_rate;
      o.attn_drop = c.attn_drop_rate;
      o.drop_path = rates[layer_index];
      o.layer_scale = c.layer_scale;
      o.mlp_dwconv = c.mlp_dwconv;
      o.cpe = c.cpe;
      layers.emplace_back(o);
    }
    std::shared_ptr<Downsampler> down;
    if (i + 1 < c.depths.size()) {
      if (nat_layout)
        down = std::make_shared<ConvDownsampler>(dim);
      else
        down = std::make_shared<PatchMerging>(dim);
    }
    levels_.emplace_back(std::move(layers), std::move(down));
    stages->push_back(levels_.back());
  }
  if (c.out_norms) {
    if (c.num_classes > 0)
      throw ConfigError("NAT: out_norms (the dense-prediction backbone) needs num_classes 0");
    for (size_t i = 0; i < c.depths.size(); ++i)
      out_norms_.push_back(
          register_module("norm" + std::to_string(i),
                          torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.embed_dim << i}))));
  } else {
    norm_ = register_module("norm",
                            torch::nn::LayerNorm(torch::nn::LayerNormOptions({num_features()})));
  }
  if (c.num_classes > 0)
    head_ = register_module("head", torch::nn::Linear(num_features(), c.num_classes));
  init_weights();
}

void NAT::init_weights() {
  // As the official _init_weights: truncated-normal linear weights (std .02), zero biases,
  // unit LayerNorms; convolutions keep PyTorch's default init.
  torch::NoGradGuard no_grad;
  apply([](torch::nn::Module& m) {
    if (auto* linear = dynamic_cast<torch::nn::LinearImpl*>(&m)) {
      layers::trunc_normal_(linear->weight, 0.02);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* ln = dynamic_cast<torch::nn::LayerNormImpl*>(&m)) {
      ln->weight.fill_(1.0);
      ln->bias.zero_();
    }
  });
}

at::Tensor NAT::run_levels(const at::Tensor& images, std::vector<at::Tensor>* levels_out) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == config_.in_chans, "NAT: expected images [B, ",
              config_.in_chans, ", H, W], got ", images.sizes());
  at::Tensor x = pos_drop_(patch_embed_->forward(images));
  for (NATLevel& level : levels_) {
    x = level->forward_blocks(x);
    if (levels_out) levels_out->push_back(x);
    if (level->downsample) x = level->downsample->forward(x);
  }
  return x;
}

at::Tensor NAT::head_from_tokens(const at::Tensor& tokens) {
  at::Tensor pooled = (norm_ ? norm_(tokens) : out_norms_.back()(tokens)).mean({1, 2});
  return head_ ? head_(pooled) : pooled;
}

at::Tensor NAT::forward(const at::Tensor& images) {
  return head_from_tokens(run_levels(images, nullptr));
}

std::vector<at::Tensor> NAT::forward_features(const at::Tensor& images) {
  std::vector<at::Tensor> levels;
  run_levels(images, &levels);
  for (size_t i = 0; i < levels.size(); ++i) {
    if (!out_norms_.empty()) levels[i] = out_norms_[i](levels[i]);
    levels[i] = levels[i].permute({0, 3, 1, 2});
  }
  return levels;
}

at::Tensor NAT::forward_head(const at::Tensor& last_level) {
  return head_from_tokens(last_level.permute({0, 2, 3, 1}));
}

std::vector<int64_t> NAT::feature_channels() const {
  std::vector<int64_t> channels;
  for (size_t i = 0; i < config_.depths.size(); ++i) channels.push_back(config_.embed_dim << i);
  return channels;
}

double NAT::flops(int64_t img_size) const {
  return nat_flops(config_, img_size);
}

}  // namespace vitrine::models
