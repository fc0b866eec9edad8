#include "models/backbones/agent_pvt.h"

#include <ATen/ATen.h>

#include "attention/agent_attention.h"
#include "config/view.h"
#include "core/error.h"
#include "layers/drop_path.h"
#include "layers/mlp.h"
#include "layers/transformer_init.h"
#include "layers/weight_init.h"
#include "models/model_options.h"

namespace vitrine::models {

// Pre-norm block with agent attention (PVT form: separate q and kv projections).
class AgentPVTBlock : public torch::nn::Module {
 public:
  AgentPVTBlock(const AgentPVTConfig& c, size_t stage, int64_t side, double drop_path) {
    const int64_t dim = c.embed_dims[stage];
    auto ln = [&] { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6)); };
    norm1 = register_module("norm1", ln());
    attention::AgentAttentionOptions o;
    o.dim = dim;
    o.num_heads = c.num_heads[stage];
    o.height = o.width = side;
    o.agent_num = c.agent_num[stage];
    o.qkv_bias = c.qkv_bias;
    o.attn_drop = c.attn_drop_rate;
    o.proj_drop = c.drop_rate;
    o.separate_qkv = true;
    o.sr_ratio = c.agent_sr_ratios[stage];
    attn = register_module("attn", attention::AgentAttention(o));
    drop_path_ = register_module("drop_path", layers::DropPath(drop_path));
    norm2 = register_module("norm2", ln());
    mlp = register_module("mlp", layers::Mlp(dim, dim * c.mlp_ratios[stage], dim, c.drop_rate));
  }

  at::Tensor forward(const at::Tensor& input) {
    const at::Tensor a = attn->forward(norm1->forward(input));
    const at::Tensor x = input + drop_path_->forward(a);
    const at::Tensor m = mlp->forward(norm2->forward(x));
    return x + drop_path_->forward(m);
  }

  double flops(double n, double dim) const {
    const auto& o = attn->options();
    const double sr2 = static_cast<double>(o.sr_ratio) * o.sr_ratio, keys = n / sr2;
    // q and proj on every token, kv on the (reduced) keys, the reduction conv and its norm.
    double linear = 2 * n * dim * dim + 2 * keys * dim * dim;
    if (o.sr_ratio > 1) linear += n * dim * dim + 5 * keys * dim;
    return 2 * 5 * n * dim + linear + 2 * n * dim * mlp->fc1->options.out_features() +
           2 * static_cast<double>(o.agent_num) * dim * (n + keys) + 9 * n * dim;
  }

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  attention::AgentAttention attn{nullptr};
  layers::Mlp mlp{nullptr};

 private:
  layers::DropPath drop_path_{nullptr};
};

AgentPVT::AgentPVT(AgentPVTConfig c) : config_(std::move(c)) {
  const AgentPVTConfig& cfg = config_;
  const size_t n = cfg.depths.size();
  for (const auto* list :
       {&cfg.embed_dims, &cfg.num_heads, &cfg.mlp_ratios, &cfg.agent_num, &cfg.agent_sr_ratios})
    if (list->size() != n)
      throw ConfigError(
          "Agent-PVT: embed_dims, num_heads, mlp_ratios, agent_num and agent_sr_ratios need one "
          "entry per stage");
  if (cfg.img_size % (4 << (n - 1)) != 0)
    throw ConfigError("Agent-PVT: img_size " + std::to_string(cfg.img_size) +
                      " must be a multiple of " + std::to_string(4 << (n - 1)));
  int64_t total = 0, index = 0;
  for (int64_t d : cfg.depths) total += d;
  const std::vector<double> rates = layers::drop_path_rates(cfg.drop_path_rate, total);
  int64_t side = cfg.img_size / 4, prev = cfg.in_chans;
  for (size_t s = 0; s < n; ++s) {
    const int64_t dim = cfg.embed_dims[s], patch = s == 0 ? 4 : 2;
    if (s > 0) side /= 2;
    Stage stage;
    stage.side = side;
    const std::string id = std::to_string(s + 1);
    auto embed = register_module("patch_embed" + id, std::make_shared<torch::nn::Module>());
    stage.proj = embed->register_module(
        "proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(prev, dim, patch).stride(patch)));
    stage.norm =
        embed->register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
    stage.pos_embed = register_parameter("pos_embed" + id, at::zeros({1, side * side, dim}));
    stage.pos_drop = register_module("pos_drop" + id, layers::Dropout(cfg.drop_rate));
    auto blocks = register_module("block" + id, torch::nn::ModuleList());
    for (int64_t b = 0; b < cfg.depths[s]; ++b, ++index) {
      const double dp = rates[index];
      auto block = std::make_shared<AgentPVTBlock>(cfg, s, side, dp);
      blocks->push_back(block);
      stage.blocks.push_back(block);
    }
    stages_.push_back(std::move(stage));
    prev = dim;
  }
  if (cfg.num_classes > 0)
    head_ = register_module("head", torch::nn::Linear(prev, cfg.num_classes));

  // The official init: position embeddings and linears trunc_normal(0.02), zero linear
  // biases, layer norms (1, 0).
  at::NoGradGuard no_grad;
  for (auto& stage : stages_) layers::trunc_normal_(stage.pos_embed, 0.02);
  layers::init_linears_and_norms(*this);
}

std::vector<at::Tensor> AgentPVT::forward_features(const at::Tensor& images) {
  const AgentPVTConfig& c = config_;
  TORCH_CHECK(images.dim() == 4 && images.size(1) == c.in_chans && images.size(2) == c.img_size &&
                  images.size(3) == c.img_size,
              "Agent-PVT: expected [B, ", c.in_chans, ", ", c.img_size, ", ", c.img_size,
              "] images (the model is built for img_size ", c.img_size, "), got shape ",
              images.sizes());
  std::vector<at::Tensor> pyramid;
  at::Tensor x = images;
  for (auto& stage : stages_) {
    at::Tensor tokens = stage.norm->forward(stage.proj->forward(x).flatten(2).transpose(1, 2));
    tokens = stage.pos_drop->forward(tokens + stage.pos_embed);
    for (auto& block : stage.blocks) tokens = block->forward(tokens);
    x = tokens.transpose(1, 2).reshape({tokens.size(0), -1, stage.side, stage.side});
    pyramid.push_back(x);
  }
  return pyramid;
}

at::Tensor AgentPVT::forward_head(const at::Tensor& last_level) {
  const at::Tensor pooled = last_level.flatten(2).mean(2);
  return head_ ? head_->forward(pooled) : pooled;
}

at::Tensor AgentPVT::forward(const at::Tensor& images) {
  return forward_head(forward_features(images).back());
}

double AgentPVT::flops(int64_t img_size) const {
  if (img_size != config_.img_size) return 0;
  double f = 0;
  int64_t prev = config_.in_chans;
  for (size_t s = 0; s < stages_.size(); ++s) {
    const double n = static_cast<double>(stages_[s].side) * stages_[s].side;
    const double dim = config_.embed_dims[s], patch = s == 0 ? 4 : 2;
    f += n * dim * prev * patch * patch + 5 * n * dim;
    for (const auto& block : stages_[s].blocks) f += block->flops(n, dim);
    prev = config_.embed_dims[s];
  }
  return f + (head_ ? static_cast<double>(prev) * config_.num_classes : 0);
}

namespace {

AgentPVTConfig apply_overrides(AgentPVTConfig c, const config::ConfigView& view) {
  static const auto table = regularised_classifier_options<AgentPVTConfig>()
                                .field("img_size", &AgentPVTConfig::img_size)
                                .field("agent_num", &AgentPVTConfig::agent_num)
                                .field("agent_sr_ratios", &AgentPVTConfig::agent_sr_ratios);
  return table.apply(view, c);
}

void add(ModelRegistry& registry, const char* name, const AgentPVTConfig& c, PaperNumbers paper) {
  add_sized_model<AgentPVT>(registry, name, "Agent-PVT", c, paper, &apply_overrides);
}

}  // namespace

void register_agent_pvt_family(ModelRegistry& r) {
  AgentPVTConfig t;  // agent_pvt_tiny + cfgs/agent_pvt_t.yaml
  add(r, "agent_pvt_t", t, {11.6, 2.0, 78.4});
  AgentPVTConfig s = t;  // agent_pvt_small + cfgs/agent_pvt_s.yaml
  s.depths = {3, 4, 6, 3};
  add(r, "agent_pvt_s", s, {20.6, 4.0, 82.2});
  AgentPVTConfig m = t;  // agent_pvt_medium + cfgs/agent_pvt_m.yaml
  m.depths = {3, 4, 18, 3};
  m.drop_path_rate = 0.3;
  add(r, "agent_pvt_m", m, {35.9, 7.0, 83.4});
  AgentPVTConfig l = t;  // agent_pvt_large + cfgs/agent_pvt_b.yaml
  l.depths = {3, 8, 27, 3};
  l.drop_path_rate = 0.3;
  add(r, "agent_pvt_l", l, {48.7, 10.4, 83.7});
}

}  // namespace vitrine::models
