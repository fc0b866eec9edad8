#include "models/backbones/duoformer.h"

#include <ATen/ATen.h>

#include <cmath>
#include <map>

#include "attention/scale_attention.h"
#include "config/view.h"
#include "core/error.h"
#include "layers/batch_norm.h"
#include "layers/drop_path.h"
#include "layers/mlp.h"
#include "layers/transformer_init.h"
#include "layers/weight_init.h"
#include "models/model_options.h"

namespace vitrine::models {

// One DuoFormer block: shared norms, MLP and LayerScale; scale attention for the scale pass,
// region attention for the patch pass (timm names: norm1, attn, ls1.gamma, norm2, mlp,
// ls2.gamma).
class DuoFormerBlock : public torch::nn::Module {
 public:
  DuoFormerBlock(const DuoFormerConfig& c, double drop_path) {
    const int64_t dim = c.embed_dim;
    auto ln = [&] { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6)); };
    norm1 = register_module("norm1", ln());
    attention::ScaleAttentionOptions o;
    o.dim = dim;
    o.num_heads = c.num_heads;
    o.qkv_bias = true;
    o.attn_drop = c.attn_drop_rate;
    o.proj_drop = c.drop_rate;
    o.scale_attention_scale = c.scale_attention_scale;
    o.unused_qk_norms = c.official_qk_norms;
    attn = register_module("attn", attention::ScaleAttention(o));
    auto ls = [&](const char* name) {
      auto holder = register_module(name, std::make_shared<torch::nn::Module>());
      return holder->register_parameter("gamma", at::full({dim}, c.init_values));
    };
    gamma1 = ls("ls1");
    norm2 = register_module("norm2", ln());
    mlp = register_module(
        "mlp", layers::Mlp(dim, static_cast<int64_t>(dim * c.mlp_ratio), dim, c.drop_rate));
    gamma2 = ls("ls2");
    drop_path_ = register_module("drop_path", layers::DropPath(drop_path));
  }

  at::Tensor forward(const at::Tensor& input, bool scale_pass) {
    const at::Tensor y = norm1->forward(input);
    at::Tensor a = (scale_pass ? attn->forward_scale(y) : attn->forward_region(y)) * gamma1;
    const at::Tensor x = input + drop_path_->forward(a);
    at::Tensor m = mlp->forward(norm2->forward(x)) * gamma2;
    return x + drop_path_->forward(m);
  }

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  attention::ScaleAttention attn{nullptr};
  layers::Mlp mlp{nullptr};
  at::Tensor gamma1, gamma2;

 private:
  layers::DropPath drop_path_{nullptr};
};

// The official ConvBatchNorm: conv3x3 (bias) -> BatchNorm -> ReLU (names conv, norm).
class ConvBatchNormImpl : public torch::nn::Module {
 public:
  ConvBatchNormImpl(int64_t in, int64_t out) {
    conv =
        register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1)));
    norm = register_module("norm", layers::BatchNorm2d(out));
  }
  at::Tensor forward(const at::Tensor& x) { return at::relu(norm->forward(conv->forward(x))); }
  torch::nn::Conv2d conv{nullptr};
  layers::BatchNorm2d norm{nullptr};
};
TORCH_MODULE(ConvBatchNorm);

namespace {

// Flat indices of each region's tokens in a level's map, in the official order: layer3's
// 2x2 column-major, layer2's 4x4 and layer1's 8x8 row-major.
at::Tensor region_index(int64_t grid, int64_t level) {
  const int64_t per = int64_t{1} << (3 - level), side = grid * per;
  std::vector<int64_t> idx;
  for (int64_t r = 0; r < grid; ++r)
    for (int64_t c = 0; c < grid; ++c) {
      if (per == 2) {
        for (int64_t j = 0; j < 2; ++j)
          for (int64_t i = 0; i < 2; ++i) idx.push_back((2 * r + i) * side + 2 * c + j);
      } else {
        for (int64_t i = 0; i < per; ++i)
          for (int64_t j = 0; j < per; ++j) idx.push_back((per * r + i) * side + per * c + j);
      }
    }
  return at::tensor(idx, at::kLong).view({grid * grid, per * per});
}

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2));
}

// The official projection-head init: kaiming normal weights, biases normal(0, 1e-6).
void init_projection(torch::nn::Conv2d& c) {
  at::NoGradGuard no_grad;
  const double fan_in = static_cast<double>(c->weight[0].numel());
  c->weight.normal_(0, std::sqrt(2.0 / fan_in));
  c->bias.normal_(0, 1e-6);
}

}  // namespace

DuoFormer::DuoFormer(DuoFormerConfig c) : config_(std::move(c)) {
  const DuoFormerConfig& cfg = config_;
  if (cfg.scales < 2 || cfg.scales > 4)
    throw ConfigError("DuoFormer: scales must be 2, 3 or 4, got " + std::to_string(cfg.scales));
  if (cfg.scale_token != "random" && cfg.scale_token != "channel")
    throw ConfigError("DuoFormer: scale_token must be random or channel, got '" + cfg.scale_token +
                      "'");
  if (cfg.img_size % 32 != 0)
    throw ConfigError("DuoFormer: img_size " + std::to_string(cfg.img_size) +
                      " must be a multiple of 32 (one region per 32x32 pixels)");
  grid_ = cfg.img_size / 32;
  if (cfg.official_forward && cfg.depth < 2)
    throw ConfigError(
        "DuoFormer: official_forward needs depth >= 2 (the official loop reads the "
        "last block's region attention of block 0's output), got " +
        std::to_string(cfg.depth));
  const int64_t D = cfg.embed_dim;

  // Backbone, registered under the official nn.Sequential indices.
  ResNetConfig rc;
  rc.bottleneck = !cfg.resnet18;
  rc.layers = cfg.resnet18 ? std::vector<int64_t>{2, 2, 2, 2} : std::vector<int64_t>{3, 4, 6, 3};
  rc.in_chans = cfg.in_chans;
  rc.num_classes = 0;
  backbone_ = std::make_shared<ResNet>(rc);
  auto projector = register_module("resnet_projector", std::make_shared<torch::nn::Module>());
  const std::map<std::string, std::string> official{{"conv1", "0"},  {"bn1", "1"},
                                                    {"layer1", "4"}, {"layer2", "5"},
                                                    {"layer3", "6"}, {"layer4", "7"}};
  for (const auto& child : backbone_->named_children())
    projector->register_module(official.at(child.key()), child.value());
  if (cfg.freeze_backbone)
    for (auto& p : backbone_->parameters()) p.requires_grad_(false);
  const std::vector<int64_t> widths = backbone_->feature_channels();

  // Projections of the used levels (layer4 down), named by level index as the official.
  auto projection = register_module("projection", std::make_shared<torch::nn::Module>());
  proj_heads_.resize(4, torch::nn::Conv2d(nullptr));
  for (int64_t level = 3; level >= 4 - cfg.scales; --level) {
    proj_heads_[level] = projection->register_module("proj_heads" + std::to_string(level),
                                                     conv(widths[level], D, 1, 1));
    init_projection(proj_heads_[level]);
  }

  if (cfg.scale_token == "channel") {
    auto p1 = register_module("chann_proj1", std::make_shared<torch::nn::Module>());
    chann1_conv1_ = p1->register_module("conv1", conv(widths[0], widths[0], 3, 2));
    chann1_conv2_ = p1->register_module("conv2", conv(widths[0], widths[0], 3, 2));
    auto p2 = register_module("chann_proj2", std::make_shared<torch::nn::Module>());
    chann2_conv1_ = p2->register_module("conv1", conv(widths[1], widths[1], 3, 2));
    for (auto* c2 : {&chann1_conv1_, &chann1_conv2_, &chann2_conv1_}) init_projection(*c2);
    // chann_proj_all.nConvs: four conv3x3-BN-ReLU layers down to D channels.
    auto all = register_module("chann_proj_all", std::make_shared<torch::nn::Module>());
    chann_all_ = all->register_module("nConvs", torch::nn::Sequential());
    int64_t in = widths[0] + widths[1] + widths[2] + widths[3];
    for (int i = 0; i < 4; ++i) {
      chann_all_->push_back(std::to_string(i), ConvBatchNorm(in, D));
      in = D;
    }
  }

  auto vit = register_module("vision_transformer", std::make_shared<torch::nn::Module>());
  cls_token_ = vit->register_parameter("cls_token", at::zeros({1, 1, D}));
  pos_embed_ = vit->register_parameter("pos_embed", at::zeros({1, grid_ * grid_ + 1, D}));
  const int64_t tokens_per_region = 1 + (cfg.scales >= 1) + 4 * (cfg.scales >= 2) +
                                    16 * (cfg.scales >= 3) + 64 * (cfg.scales >= 4);
  pos_embed_for_scale_ =
      vit->register_parameter("pos_embed_for_scale", at::zeros({1, 1, tokens_per_region, D}));
  if (cfg.scale_token == "random")
    cls_token1_ = vit->register_parameter("cls_token1", at::zeros({1, 1, 1, D}));
  pos_drop_ = vit->register_module("pos_drop", layers::Dropout(cfg.drop_rate));
  auto blocks = vit->register_module("blocks", torch::nn::ModuleList());
  const std::vector<double> rates = layers::drop_path_rates(cfg.drop_path_rate, cfg.depth);
  for (int64_t i = 0; i < cfg.depth; ++i) {
    const double dp = rates[i];
    auto block = std::make_shared<DuoFormerBlock>(cfg, dp);
    blocks->push_back(block);
    blocks_.push_back(block);
  }
  norm_ = vit->register_module("norm",
                               torch::nn::LayerNorm(torch::nn::LayerNormOptions({D}).eps(1e-6)));
  if (cfg.num_classes > 0)
    head_ = vit->register_module("head", torch::nn::Linear(D, cfg.num_classes));

  // timm's ViT init for the transformer (linears trunc_normal(0.02), zero biases, LayerNorm
  // (1, 0), pos_embed trunc_normal(0.02), cls_token normal(1e-6)) and the official scale
  // embeddings (trunc_normal / normal with std 0.036).
  at::NoGradGuard no_grad;
  layers::init_linears_and_norms(*vit);
  layers::trunc_normal_(pos_embed_, 0.02);
  cls_token_.normal_(0, 1e-6);
  layers::trunc_normal_(pos_embed_for_scale_, 0.036);
  if (cls_token1_.defined()) cls_token1_.normal_(0, 0.036);
  for (int64_t level = 0; level < 4; ++level) region_index_[level] = region_index(grid_, level);
}

std::vector<at::Tensor> DuoFormer::forward_features(const at::Tensor& images) {
  TORCH_CHECK(
      images.dim() == 4 && images.size(2) == config_.img_size && images.size(3) == config_.img_size,
      "DuoFormer: expected [B, ", config_.in_chans, ", ", config_.img_size, ", ", config_.img_size,
      "] images (the model is built for img_size ", config_.img_size, "), got shape ",
      images.sizes());
  return backbone_->forward_features(images);
}

at::Tensor DuoFormer::channel_token(const std::vector<at::Tensor>& f) {
  const at::Tensor l1 = at::max_pool2d(chann1_conv2_->forward(chann1_conv1_->forward(f[0])), 2, 2);
  const at::Tensor l2 = at::max_pool2d(chann2_conv1_->forward(f[1]), 2, 2);
  const at::Tensor l3 = at::max_pool2d(f[2], 2, 2);
  at::Tensor x = at::cat({l1, l2, l3, f[3]}, 1);
  x = chann_all_->forward(x);                        // [B, D, grid, grid]
  return x.flatten(2).transpose(1, 2).unsqueeze(2);  // [B, regions, 1, D]
}

at::Tensor DuoFormer::region_tokens(const at::Tensor& images) {
  const std::vector<at::Tensor> f = forward_features(images);
  const int64_t B = images.size(0), R = grid_ * grid_;
  std::vector<at::Tensor> parts;
  parts.push_back(config_.scale_token == "random" ? cls_token1_.expand({B, R, 1, config_.embed_dim})
                                                  : channel_token(f));
  for (int64_t level = 3; level >= 4 - config_.scales; --level) {
    const at::Tensor projected = proj_heads_[level]->forward(f[level]).flatten(2);  // [B, D, HW]
    const at::Tensor& idx = region_index_[level];
    parts.push_back(projected.index_select(2, idx.view(-1))
                        .view({B, -1, R, idx.size(1)})
                        .permute({0, 2, 3, 1}));  // [B, R, n, D]
  }
  return at::cat(parts, 2);
}

at::Tensor DuoFormer::forward(const at::Tensor& images) {
  at::Tensor x = pos_drop_->forward(region_tokens(images) + pos_embed_for_scale_);
  for (auto& block : blocks_) x = block->forward(x, /*scale_pass=*/true);
  at::Tensor t = x.select(2, 0);  // each region's scale token
  t = pos_drop_->forward(at::cat({cls_token_.expand({t.size(0), -1, -1}), t}, 1) + pos_embed_);
  if (config_.official_forward) {
    auto& first = blocks_.front()->attn;
    auto& last = blocks_.back()->attn;
    t = last->forward_region(first->forward_region(t, first->scale_factor()), last->scale_factor());
  } else {
    for (auto& block : blocks_) t = block->forward(t, /*scale_pass=*/false);
  }
  const at::Tensor cls = norm_->forward(t).select(1, 0);
  return head_ ? head_->forward(cls) : cls;
}

at::Tensor DuoFormer::forward_head(const at::Tensor& last_level) {
  const at::Tensor pooled = last_level.flatten(2).mean(2);
  TORCH_CHECK(pooled.size(1) == config_.embed_dim, "DuoFormer::forward_head takes a map of ",
              config_.embed_dim, " channels; classification uses forward()");
  return head_ ? head_->forward(norm_->forward(pooled)) : pooled;
}

double DuoFormer::flops(int64_t img_size) const {
  if (img_size != config_.img_size) return 0;
  const DuoFormerConfig& c = config_;
  double f = backbone_->flops(img_size);
  const std::vector<int64_t> widths = backbone_->feature_channels();
  const double D = static_cast<double>(c.embed_dim), R = static_cast<double>(grid_ * grid_);
  for (int64_t level = 3; level >= 4 - c.scales; --level) {
    const double side = static_cast<double>(grid_ << (3 - level));
    f += side * side * widths[level] * D;
  }
  if (chann_all_) {
    const double g2 = R;
    // chann_proj1: two stride-2 convs (to 4x, then 2x the grid); chann_proj2: one.
    f += (16 + 4) * g2 * widths[0] * widths[0] * 9 + 4 * g2 * widths[1] * widths[1] * 9;
    f += g2 * D * 9 * (widths[0] + widths[1] + widths[2] + widths[3] + 3 * D);
  }
  const double S = static_cast<double>(pos_embed_for_scale_.size(2)), Ns = R * S, Np = R + 1;
  const double hidden = D * c.mlp_ratio;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    f += 10 * Ns * D + 4 * Ns * D * D + 2 * R * S * S * D + 2 * Ns * D * hidden;  // scale pass
    f += 10 * Np * D + 4 * Np * D * D + 2 * Np * Np * D + 2 * Np * D * hidden;    // patch pass
  }
  return f + 5 * Np * D + (head_ ? D * c.num_classes : 0);
}

std::vector<int64_t> DuoFormer::feature_channels() const {
  return backbone_->feature_channels();
}

namespace {

DuoFormerConfig apply_overrides(DuoFormerConfig o, const config::ConfigView& view) {
  static const auto table =
      regularised_classifier_options<DuoFormerConfig>()
          .field("img_size", &DuoFormerConfig::img_size)
          .field("scales", &DuoFormerConfig::scales)
          .field("scale_token", &DuoFormerConfig::scale_token)
          .field("depth", &DuoFormerConfig::depth)
          .field("num_heads", &DuoFormerConfig::num_heads)
          .field("embed_dim", &DuoFormerConfig::embed_dim)
          .field("freeze_backbone", &DuoFormerConfig::freeze_backbone)
          .field("scale_attention_scale", &DuoFormerConfig::scale_attention_scale)
          .field("official_qk_norms", &DuoFormerConfig::official_qk_norms)
          .field("official_forward", &DuoFormerConfig::official_forward);
  return table.apply(view, o);
}

void add(ModelRegistry& registry, const char* name, const DuoFormerConfig& c) {
  add_sized_model<DuoFormer>(registry, name, "DuoFormer", c, {}, &apply_overrides);
}

}  // namespace

void register_duoformer_family(ModelRegistry& r) {
  DuoFormerConfig base;
  add(r, "duoformer_r50", base);
  DuoFormerConfig channel = base;
  channel.scale_token = "channel";
  add(r, "duoformer_r50_channel", channel);
  // The official MyModel (models/model.py: channel scale token, four scales, width 768, 12
  // heads) with its unused q_norm / k_norm and its patch pass: 189,136,936 parameters there,
  // less the dropped ViT patch embedding (2,360,064). Every level is projected (model.py
  // projects only layer3/4 and then fails on layer2; model_wo_extra_params.py projects all).
  DuoFormerConfig official = channel;
  official.official_qk_norms = true;
  official.official_forward = true;
  add(r, "duoformer_r50_official", official);

  // Ours: a small DuoFormer for 32x32 grey images (Fashion-MNIST resized): ResNet-18, one
  // region of 1 + 4 + 16 + 64 tokens behind the channel scale token, 2 blocks of width 64.
  DuoFormerConfig nano;
  nano.img_size = 32;
  nano.in_chans = 1;
  nano.num_classes = 10;
  nano.resnet18 = true;
  nano.scale_token = "channel";
  nano.embed_dim = 64;
  nano.depth = 2;
  nano.num_heads = 4;
  nano.drop_rate = 0;
  nano.attn_drop_rate = 0;
  add(r, "duoformer_nano", nano);
}

}  // namespace vitrine::models
