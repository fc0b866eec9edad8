#include "models/backbones/agent_deit.h"

#include <ATen/ATen.h>

#include <cmath>

#include "attention/agent_attention.h"
#include "attention/multi_head_attention.h"
#include "config/view.h"
#include "core/error.h"
#include "layers/drop_path.h"
#include "layers/mlp.h"
#include "layers/transformer_init.h"
#include "layers/weight_init.h"
#include "models/model_options.h"

namespace vitrine::models {
namespace {

// timm's ViT Attention: qkv (one Linear), softmax(q k^T * scale) v, proj.
class SelfAttention : public torch::nn::Module {
 public:
  SelfAttention(int64_t dim, int64_t heads, bool qkv_bias, double attn_drop, double proj_drop)
      : heads_(heads), scale_(std::pow(static_cast<double>(dim / heads), -0.5)) {
    qkv = register_module("qkv",
                          torch::nn::Linear(torch::nn::LinearOptions(dim, 3 * dim).bias(qkv_bias)));
    attn_drop_ = register_module("attn_drop", layers::Dropout(attn_drop));
    proj = register_module("proj", torch::nn::Linear(dim, dim));
    proj_drop_ = register_module("proj_drop", layers::Dropout(proj_drop));
  }
  at::Tensor forward(const at::Tensor& x) {
    return attention::multi_head_self_attention(x, qkv, proj, heads_, scale_, attn_drop_,
                                                proj_drop_);
  }
  torch::nn::Linear qkv{nullptr}, proj{nullptr};

 private:
  int64_t heads_;
  double scale_;
  layers::Dropout attn_drop_{nullptr}, proj_drop_{nullptr};
};

}  // namespace

// Pre-norm transformer block: x + attn(norm1(x)), x + mlp(norm2(x)).
class AgentDeiTBlock : public torch::nn::Module {
 public:
  AgentDeiTBlock(const AgentDeiTConfig& c, int64_t index, double drop_path) {
    const int64_t dim = c.embed_dim, grid = c.img_size / c.patch_size;
    auto ln = [&] { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6)); };
    norm1 = register_module("norm1", ln());
    agent_ = index < c.agent_layers;
    if (agent_) {
      static const int64_t pair_to_entry[] = {0, 1, 2, 2, 2, 3};  // official stage_num
      const int64_t entry = pair_to_entry[std::min<int64_t>(index / 2, 5)];
      attention::AgentAttentionOptions o;
      o.dim = dim;
      o.num_heads = c.num_heads;
      o.height = o.width = grid;
      o.agent_num = c.agent_num.at(static_cast<size_t>(entry));
      o.qkv_bias = c.qkv_bias;
      o.attn_drop = c.attn_drop_rate;
      o.proj_drop = c.drop_rate;
      o.cls_token = true;
      agent_attn = register_module("attn", attention::AgentAttention(o));
    } else {
      self_attn =
          register_module("attn", std::make_shared<SelfAttention>(dim, c.num_heads, c.qkv_bias,
                                                                  c.attn_drop_rate, c.drop_rate));
    }
    drop_path_ = register_module("drop_path", layers::DropPath(drop_path));
    norm2 = register_module("norm2", ln());
    mlp = register_module(
        "mlp", layers::Mlp(dim, static_cast<int64_t>(dim * c.mlp_ratio), dim, c.drop_rate));
  }

  at::Tensor forward(const at::Tensor& input) {
    const at::Tensor y = norm1->forward(input);
    at::Tensor a = agent_ ? agent_attn->forward(y) : self_attn->forward(y);
    at::Tensor x = input + drop_path_->forward(a);
    at::Tensor m = mlp->forward(norm2->forward(x));
    return x + drop_path_->forward(m);
  }

  // Multiply-adds for n tokens (LayerNorm 5 per element).
  double flops(double n, double dim) const {
    double f = 2 * 5 * n * dim + 4 * n * dim * dim + 2 * n * dim * mlp->fc1->options.out_features();
    if (agent_)
      f += 4 * n * agent_attn->options().agent_num * dim + 9 * (n - 1) * dim;
    else
      f += 2 * n * n * dim;
    return f;
  }

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  attention::AgentAttention agent_attn{nullptr};
  std::shared_ptr<SelfAttention> self_attn;
  layers::Mlp mlp{nullptr};

 private:
  bool agent_;
  layers::DropPath drop_path_{nullptr};
};

AgentDeiT::AgentDeiT(AgentDeiTConfig c) : config_(std::move(c)) {
  const AgentDeiTConfig& cfg = config_;
  if (cfg.img_size % cfg.patch_size != 0)
    throw ConfigError("Agent-DeiT: img_size " + std::to_string(cfg.img_size) +
                      " must be a multiple of the patch size " + std::to_string(cfg.patch_size));
  const int64_t grid = cfg.img_size / cfg.patch_size, dim = cfg.embed_dim;
  auto patch_embed = register_module("patch_embed", std::make_shared<torch::nn::Module>());
  patch_proj_ = patch_embed->register_module(
      "proj",
      torch::nn::Conv2d(
          torch::nn::Conv2dOptions(cfg.in_chans, dim, cfg.patch_size).stride(cfg.patch_size)));
  cls_token_ = register_parameter("cls_token", at::zeros({1, 1, dim}));
  pos_embed_ = register_parameter("pos_embed", at::zeros({1, grid * grid + 1, dim}));
  pos_drop_ = register_module("pos_drop", layers::Dropout(cfg.drop_rate));
  auto blocks = register_module("blocks", torch::nn::ModuleList());
  const std::vector<double> rates = layers::drop_path_rates(cfg.drop_path_rate, cfg.depth);
  for (int64_t i = 0; i < cfg.depth; ++i) {
    const double dp = rates[i];
    auto block = std::make_shared<AgentDeiTBlock>(cfg, i, dp);
    blocks->push_back(block);
    blocks_.push_back(block);
  }
  norm_ =
      register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6)));
  if (cfg.num_classes > 0) head_ = register_module("head", torch::nn::Linear(dim, cfg.num_classes));

  // The official init: pos_embed and cls_token trunc_normal(0.02); linears trunc_normal(0.02)
  // with zero bias, except the head (zeros); layer norms (1, 0); the patch conv keeps
  // PyTorch's default.
  at::NoGradGuard no_grad;
  layers::trunc_normal_(pos_embed_, 0.02);
  layers::trunc_normal_(cls_token_, 0.02);
  layers::init_linears_and_norms(*this);
  if (head_) {
    head_->weight.zero_();
    head_->bias.zero_();
  }
}

at::Tensor AgentDeiT::tokens(const at::Tensor& images) {
  const AgentDeiTConfig& c = config_;
  TORCH_CHECK(images.dim() == 4 && images.size(1) == c.in_chans && images.size(2) == c.img_size &&
                  images.size(3) == c.img_size,
              "Agent-DeiT: expected [B, ", c.in_chans, ", ", c.img_size, ", ", c.img_size,
              "] images (the model is built for img_size ", c.img_size, "), got shape ",
              images.sizes());
  at::Tensor x = patch_proj_->forward(images).flatten(2).transpose(1, 2);
  x = at::cat({cls_token_.expand({x.size(0), -1, -1}), x}, 1);
  x = pos_drop_->forward(x + pos_embed_);
  for (auto& block : blocks_) x = block->forward(x);
  return norm_->forward(x);
}

at::Tensor AgentDeiT::forward(const at::Tensor& images) {
  const at::Tensor cls = tokens(images).select(1, 0);
  return head_ ? head_->forward(cls) : cls;
}

std::vector<at::Tensor> AgentDeiT::forward_features(const at::Tensor& images) {
  const int64_t grid = config_.img_size / config_.patch_size;
  const at::Tensor t = tokens(images);
  return {t.narrow(1, 1, grid * grid).transpose(1, 2).reshape({t.size(0), -1, grid, grid})};
}

at::Tensor AgentDeiT::forward_head(const at::Tensor& last_level) {
  const at::Tensor pooled = last_level.flatten(2).mean(2);
  return head_ ? head_->forward(pooled) : pooled;
}

double AgentDeiT::flops(int64_t img_size) const {
  if (img_size != config_.img_size) return 0;
  const AgentDeiTConfig& c = config_;
  const double grid = static_cast<double>(img_size / c.patch_size), dim = c.embed_dim;
  const double n = grid * grid + 1;
  double f = grid * grid * dim * c.in_chans * c.patch_size * c.patch_size;
  for (const auto& block : blocks_) f += block->flops(n, dim);
  return f + 5 * n * dim + (head_ ? dim * c.num_classes : 0);
}

namespace {

AgentDeiTConfig apply_overrides(AgentDeiTConfig c, const config::ConfigView& view) {
  static const auto table = regularised_classifier_options<AgentDeiTConfig>()
                                .field("img_size", &AgentDeiTConfig::img_size)
                                .field("patch_size", &AgentDeiTConfig::patch_size)
                                .field("agent_num", &AgentDeiTConfig::agent_num)
                                .field("agent_layers", &AgentDeiTConfig::agent_layers);
  c = table.apply(view, c);
  if (c.agent_num.size() != 4)
    throw ConfigError("model.agent_num needs 4 entries (blocks 0-1, 2-3, 4-9, 10-11)");
  return c;
}

void add(ModelRegistry& registry, const char* name, const AgentDeiTConfig& c, PaperNumbers paper) {
  add_sized_model<AgentDeiT>(registry, name, "Agent-DeiT", c, paper, &apply_overrides);
}

}  // namespace

void register_agent_deit_family(ModelRegistry& r) {
  AgentDeiTConfig t;  // agent_deit_tiny + cfgs/agent_deit_t.yaml
  add(r, "agent_deit_t", t, {6.0, 1.2, 74.9});
  AgentDeiTConfig s = t;  // agent_deit_small + cfgs/agent_deit_s.yaml
  s.embed_dim = 384;
  s.num_heads = 6;
  s.drop_path_rate = 0.1;
  add(r, "agent_deit_s", s, {22.7, 4.4, 80.5});
  AgentDeiTConfig b = t;  // agent_deit_base (agent_layer=4) + cfgs/agent_deit_b.yaml
  b.embed_dim = 768;
  b.num_heads = 12;
  b.agent_layers = 4;
  b.agent_num = {81, 81, 81, 81};
  b.drop_path_rate = 0.3;
  add(r, "agent_deit_b", b, {87.2, 17.6, 82.0});

  // Ours: a small Agent-DeiT for 28x28 grey images (Fashion-MNIST): 4x4 patches (a 7x7 grid),
  // 4 blocks of width 64 with 2 heads, 4 agents each.
  AgentDeiTConfig nano;
  nano.img_size = 28;
  nano.patch_size = 4;
  nano.in_chans = 1;
  nano.num_classes = 10;
  nano.embed_dim = 64;
  nano.depth = 4;
  nano.num_heads = 2;
  nano.agent_layers = 4;
  nano.agent_num = {4, 4, 4, 4};
  add(r, "agent_deit_nano", nano, {0, 0, 0});
}

}  // namespace vitrine::models
