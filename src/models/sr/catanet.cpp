#include "models/sr/catanet.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <string>

#include "attention/multi_head_attention.h"
#include "config/view.h"
#include "core/error.h"
#include "layers/weight_init.h"
#include "models/model_options.h"
#include "models/sr/overlapping_patches.h"

namespace vitrine::models {
namespace {

torch::nn::Conv2d conv3x3(int64_t in, int64_t out) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1));
}

torch::nn::Linear linear_no_bias(int64_t in, int64_t out) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
}

double conv_macs(const torch::nn::Conv2d& conv, double pixels) {
  return pixels * static_cast<double>(conv->weight.numel());
}

}  // namespace

LocalRegionAttentionImpl::LocalRegionAttentionImpl(int64_t dim, int64_t qk_dim, int64_t mlp_dim,
                                                   int64_t heads)
    : heads_(heads) {
  TORCH_CHECK(qk_dim % heads == 0 && dim % heads == 0, "LRSA: qk_dim ", qk_dim, " and dim ", dim,
              " must be multiples of heads ", heads);
  auto layer = register_module("layer", torch::nn::ModuleList());
  auto attn = std::make_shared<torch::nn::Module>();  // PreNorm(Attention)
  attn_norm =
      attn->register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  auto fn = attn->register_module("fn", std::make_shared<torch::nn::Module>());
  to_q = fn->register_module("to_q", linear_no_bias(dim, qk_dim));
  to_k = fn->register_module("to_k", linear_no_bias(dim, qk_dim));
  to_v = fn->register_module("to_v", linear_no_bias(dim, dim));
  proj = fn->register_module("proj", linear_no_bias(dim, dim));
  auto ff = std::make_shared<torch::nn::Module>();  // PreNorm(ConvFFN)
  ffn_norm = ff->register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  ffn = ff->register_module("fn", layers::ConvFFN(dim, mlp_dim));
  layer->push_back(attn);
  layer->push_back(ff);
}

at::Tensor LocalRegionAttentionImpl::forward(const at::Tensor& x, int64_t ps) {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  PatchGrid grid;
  const at::Tensor patches = divide_into_patches(x, ps, grid);  // [B, n, C, ps, ps]
  const int64_t n = patches.size(1);
  at::Tensor tokens = patches.reshape({B * n, C, ps * ps}).transpose(1, 2);  // [(B n), ps^2, C]
  const at::Tensor normed = attn_norm->forward(tokens);
  auto heads = [&](const at::Tensor& t) {
    return t.reshape({B * n, ps * ps, heads_, -1}).transpose(1, 2);
  };
  const at::Tensor attended = attention::scaled_dot_product_attention(
      heads(to_q->forward(normed)), heads(to_k->forward(normed)), heads(to_v->forward(normed)));
  tokens = proj->forward(attended.transpose(1, 2).reshape({B * n, ps * ps, C})) + tokens;
  const at::Tensor merged =
      merge_patches(tokens.transpose(1, 2).reshape({B, n, C, ps, ps}), grid, H, W);
  const at::Tensor flat = merged.flatten(2).transpose(1, 2);  // [B, H W, C]
  const at::Tensor out = ffn->forward(ffn_norm->forward(flat), H, W) + flat;
  return out.transpose(1, 2).reshape({B, C, H, W});
}

double LocalRegionAttentionImpl::macs(int64_t h, int64_t w, int64_t ps) const {
  const int64_t step = h == ps && w == ps ? ps : ps - 2;
  const double patches =
      static_cast<double>(patch_offsets(h, ps, step).size() * patch_offsets(w, ps, step).size());
  const double t = static_cast<double>(ps) * ps, c = static_cast<double>(to_v->weight.size(0)),
               qk = static_cast<double>(to_q->weight.size(0));
  const double n = static_cast<double>(h) * w;
  return patches * (t * c * (2 * qk + 2 * c) + t * t * (qk + c) + 5 * t * c) + ffn->macs(n) +
         5 * n * c;
}

CATANet::CATANet(CATANetConfig config) : config_(std::move(config)) {
  const CATANetConfig& c = config_;
  const size_t blocks = c.patch_size.size();
  if (c.n_iters.size() != blocks || c.num_tokens.size() != blocks || c.group_size.size() != blocks)
    throw ConfigError(
        "CATANet: patch_size, n_iters, num_tokens and group_size need one entry "
        "per block");
  if (c.upscale < 1 || c.upscale > 4)
    throw ConfigError("CATANet: upscale must be 1, 2, 3 or 4, got " + std::to_string(c.upscale));
  first_conv_ = register_module("first_conv", conv3x3(c.in_chans, c.dim));
  auto block_list = register_module("blocks", torch::nn::ModuleList());
  auto mid_list = register_module("mid_convs", torch::nn::ModuleList());
  for (size_t i = 0; i < blocks; ++i) {
    attention::TokenAggregationOptions o;
    o.dim = c.dim;
    o.qk_dim = c.qk_dim;
    o.mlp_dim = c.mlp_dim;
    o.heads = c.heads;
    o.n_iter = c.n_iters[i];
    o.num_tokens = c.num_tokens[i];
    o.group_size = c.group_size[i];
    auto pair = torch::nn::ModuleList();
    tabs_.push_back(attention::TokenAggregationBlock(o));
    lrsas_.push_back(LocalRegionAttention(c.dim, c.qk_dim, c.mlp_dim, c.heads));
    pair->push_back(tabs_.back());
    pair->push_back(lrsas_.back());
    block_list->push_back(pair);
    mid_convs_.push_back(conv3x3(c.dim, c.dim));
    mid_list->push_back(mid_convs_.back());
  }
  if (c.upscale == 4) {
    upconv1_ = register_module("upconv1", conv3x3(c.dim, c.dim * 4));
    upconv2_ = register_module("upconv2", conv3x3(c.dim, c.dim * 4));
  } else if (c.upscale > 1) {
    upconv_ = register_module("upconv", conv3x3(c.dim, c.dim * c.upscale * c.upscale));
  }
  last_conv_ = register_module("last_conv", conv3x3(c.dim, c.in_chans));

  // The official _init_weights: Linear trunc_normal(0.02) and zero bias, LayerNorm (1, 0);
  // convolutions keep PyTorch's default initialisation.
  at::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* linear = m->as<torch::nn::Linear>()) {
      layers::trunc_normal_(linear->weight, 0.02);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* ln = m->as<torch::nn::LayerNorm>()) {
      ln->weight.fill_(1);
      ln->bias.zero_();
    }
  }
}

at::Tensor CATANet::deep_features(const at::Tensor& shallow) {
  at::Tensor x = shallow;
  for (size_t i = 0; i < tabs_.size(); ++i) {
    const at::Tensor residual = x;
    x = lrsas_[i]->forward(tabs_[i]->forward(x), config_.patch_size[i]);
    x = residual + mid_convs_[i]->forward(x);
  }
  return x + shallow;
}

std::vector<at::Tensor> CATANet::forward_features(const at::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == config_.in_chans, "CATANet: expected [B, ",
              config_.in_chans, ", H, W] images, got shape ", images.sizes());
  return {deep_features(first_conv_->forward(images))};
}

at::Tensor CATANet::forward_head(const at::Tensor&) {
  TORCH_CHECK(false,
              "CATANet: forward_head is not defined for super-resolution (the reconstruction adds "
              "the upsampled input); call forward");
}

at::Tensor CATANet::forward(const at::Tensor& images) {
  const int64_t s = config_.upscale;
  const at::Tensor x = forward_features(images)[0];
  const at::Tensor base =
      s == 1 ? images
             : at::upsample_bilinear2d(images, {images.size(2) * s, images.size(3) * s}, false,
                                       static_cast<double>(s), static_cast<double>(s));
  auto up = [&](torch::nn::Conv2d& conv, int64_t factor, const at::Tensor& in) {
    return at::leaky_relu(at::pixel_shuffle(conv->forward(in), factor), 0.1);
  };
  at::Tensor out = x;
  if (s == 4)
    out = up(upconv2_, 2, up(upconv1_, 2, x));
  else if (s > 1)
    out = up(upconv_, s, x);
  return last_conv_->forward(out) + base;
}

double CATANet::flops(int64_t img_size) const {
  const double n = static_cast<double>(img_size) * img_size;
  double total = conv_macs(first_conv_, n);
  for (size_t i = 0; i < tabs_.size(); ++i)
    total += tabs_[i]->macs(img_size, img_size) +
             lrsas_[i]->macs(img_size, img_size, config_.patch_size[i]) +
             conv_macs(mid_convs_[i], n);
  const int64_t s = config_.upscale;
  if (s == 4)
    total += conv_macs(upconv1_, n) + conv_macs(upconv2_, 4 * n);
  else if (s > 1)
    total += conv_macs(upconv_, n);
  return total + conv_macs(last_conv_, n * s * s);
}

namespace {

CATANetConfig apply_overrides(CATANetConfig c, const config::ConfigView& view, bool sized) {
  // img_size (the LR training patch) is the data's business; num_classes must stay 0.
  static const auto table =
      model_options<CATANetConfig>()
          .field("in_chans", &CATANetConfig::in_chans)
          .known("img_size")
          .custom("num_classes",
                  [](CATANetConfig&, const config::ConfigView& v, const std::string& key) {
                    if (v.get_int(key) != 0)
                      throw ConfigError(
                          v.path() + ".num_classes: CATANet is a super-resolution model (use 0)");
                  })
          .field("n_iters", &CATANetConfig::n_iters)
          .field("num_tokens", &CATANetConfig::num_tokens)
          .field("group_size", &CATANetConfig::group_size);
  // Our small variant takes its scale from the config.
  static const auto sized_table =
      config::OptionTable<CATANetConfig>(table).field("upscale", &CATANetConfig::upscale);
  return (sized ? sized_table : table).apply(view, c);
}

}  // namespace

void register_catanet_family(ModelRegistry& registry) {
  // Parameters and Set5 PSNR (Y, dB) the paper reports; "top1" holds nothing for SR.
  struct Variant {
    const char* name;
    int64_t upscale;
    double params_m;
  };
  for (const Variant& v : {Variant{"catanet_x2", 2, 0.477}, Variant{"catanet_x3", 3, 0.550},
                           Variant{"catanet_x4", 4, 0.535}, Variant{"catanet_nano", 4, 0}}) {
    CATANetConfig c;
    c.upscale = v.upscale;
    const bool nano = std::string(v.name) == "catanet_nano";
    if (nano) {
      // Ours, for tests and quick CPU runs: width 16, two blocks with 8x8 and 12x12 patches
      // (LR inputs from 12 pixels), upscale from the config.
      c.dim = 16;
      c.qk_dim = 16;
      c.mlp_dim = 32;
      c.heads = 2;
      c.patch_size = {8, 12};
      c.n_iters = {3, 3};
      c.num_tokens = {8, 16};
      c.group_size = {64, 32};
    }
    ModelEntry e;
    e.name = v.name;
    e.family = "CATANet";
    e.img_size = nano ? 24 : 64;  // the LR training patch
    e.in_chans = 3;
    e.num_classes = 0;
    e.paper = {v.params_m, 0, 0};
    e.create = [c, nano](const config::ConfigView& view) -> ModelPtr {
      return std::make_shared<CATANet>(apply_overrides(c, view, nano));
    };
    registry.add(std::move(e));
  }
}

}  // namespace vitrine::models
