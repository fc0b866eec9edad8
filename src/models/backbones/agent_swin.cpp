#include "models/backbones/agent_swin.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "attention/agent_attention.h"
#include "attention/window_attention.h"
#include "config/view.h"
#include "core/error.h"
#include "layers/drop_path.h"
#include "layers/mlp.h"
#include "layers/transformer_init.h"
#include "layers/weight_init.h"
#include "models/model_options.h"

namespace vitrine::models {

char AgentSwinConfig::block_type(size_t stage, int64_t block) const {
  const size_t stages = depths.size();
  if (attn_type.size() < stages)
    throw ConfigError("model.attn_type '" + attn_type + "' needs a letter for each of the " +
                      std::to_string(stages) + " stages");
  const char letter = attn_type[stage];
  if (letter == 'A' || letter == 'B') return letter;
  if (letter == 'M') {
    const std::string count = attn_type.substr(stages);
    if (count.empty() || !std::all_of(count.begin(), count.end(), ::isdigit))
      throw ConfigError("model.attn_type '" + attn_type +
                        "': a mixed stage (M) needs the number of agent blocks after the stage "
                        "letters, e.g. AAMB2");
    return block < std::stoll(count) ? 'A' : 'B';
  }
  throw ConfigError("model.attn_type '" + attn_type + "': stage letters must be A, B or M");
}

// A Swin block with agent ('A') or window ('B') attention on channels-last maps.
class AgentSwinBlock : public torch::nn::Module {
 public:
  AgentSwinBlock(const AgentSwinConfig& c, size_t stage, int64_t index, int64_t side,
                 double drop_path)
      : side_(side) {
    const int64_t dim = c.embed_dim << stage;
    type_ = c.block_type(stage, index);
    window_ = type_ == 'A' ? c.window_size : std::max<int64_t>(7, c.window_size / 8);
    shift_ = index % 2 == 0 ? 0 : window_ / 2;
    if (side <= window_) {  // the window covers the map: no partition, no shift
      shift_ = 0;
      window_ = side;
    }
    if (side % window_ != 0)
      throw ConfigError("Agent-Swin: a " + std::to_string(side) + "x" + std::to_string(side) +
                        " map does not split into " + std::to_string(window_) + "x" +
                        std::to_string(window_) + " windows (img_size " +
                        std::to_string(c.img_size) + ")");
    heads_ = c.num_heads[stage];
    norm1 = register_module("norm1",
                            torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-5)));
    if (type_ == 'A') {
      attention::AgentAttentionOptions o;
      o.dim = dim;
      o.num_heads = heads_;
      o.height = o.width = window_;
      o.agent_num = c.agent_num[stage];
      o.qkv_bias = c.qkv_bias;
      o.attn_drop = c.attn_drop_rate;
      o.proj_drop = c.drop_rate;
      agent = register_module("attn", attention::AgentAttention(o));
    } else {
      attention::WindowAttentionOptions o;
      o.dim = dim;
      o.num_heads = heads_;
      o.window_size = window_;
      o.qkv_bias = c.qkv_bias;
      o.attn_drop = c.attn_drop_rate;
      o.proj_drop = c.drop_rate;
      window = register_module("attn", attention::WindowAttention(o));
    }
    drop_path_ = register_module("drop_path", layers::DropPath(drop_path));
    norm2 = register_module("norm2",
                            torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-5)));
    const int64_t hidden = static_cast<int64_t>(dim * c.mlp_ratio);
    mlp = register_module("mlp", layers::Mlp(dim, hidden, dim, c.drop_rate));
    if (shift_ > 0) attn_mask = register_buffer("attn_mask", shifted_window_mask());
  }

  // x [B, side, side, C] -> same.
  at::Tensor forward(const at::Tensor& input) {
    const int64_t B = input.size(0), C = input.size(3), w = window_, n = side_ / w;
    at::Tensor x = norm1->forward(input);
    if (shift_) x = at::roll(x, {-shift_, -shift_}, {1, 2});
    x = x.view({B, n, w, n, w, C}).permute({0, 1, 3, 2, 4, 5}).reshape({-1, w * w, C});
    x = type_ == 'A' ? agent->forward(x) : window->forward(x, attn_mask);
    x = x.view({B, n, n, w, w, C}).permute({0, 1, 3, 2, 4, 5}).reshape({B, side_, side_, C});
    if (shift_) x = at::roll(x, {shift_, shift_}, {1, 2});
    x = input + drop_path_->forward(x);
    const at::Tensor y = mlp->forward(norm2->forward(x));
    return x + drop_path_->forward(y);
  }

  // Multiply-adds per image (norms 5 per element, as fvcore counts LayerNorm).
  double flops() const {
    const double N = static_cast<double>(side_) * side_, C = norm1->options.normalized_shape()[0];
    double f = 2 * 5 * N * C + 4 * N * C * C + 2 * N * C * mlp->fc1->options.out_features();
    if (type_ == 'A')
      f += 4 * N * agent->options().agent_num * C + 9 * N * C;
    else
      f += 2 * N * window_ * window_ * C;
    return f;
  }

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  attention::AgentAttention agent{nullptr};
  attention::WindowAttention window{nullptr};
  layers::Mlp mlp{nullptr};
  at::Tensor attn_mask;

 private:
  // Swin's mask for shifted windows: 0 within a region of the rolled map, -100 across.
  at::Tensor shifted_window_mask() const {
    const int64_t w = window_, s = shift_, side = side_, n = side / w;
    at::Tensor regions = at::zeros({side, side});
    const int64_t cuts[] = {0, side - w, side - s, side};
    int64_t label = 0;
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b)
        regions.slice(0, cuts[a], cuts[a + 1]).slice(1, cuts[b], cuts[b + 1]).fill_(label++);
    const at::Tensor windows =
        regions.view({n, w, n, w}).permute({0, 2, 1, 3}).reshape({n * n, w * w});
    const at::Tensor diff = windows.unsqueeze(1) - windows.unsqueeze(2);
    return at::zeros_like(diff).masked_fill(diff != 0, -100.0);
  }

  int64_t side_, window_, shift_, heads_;
  char type_;
  layers::DropPath drop_path_{nullptr};
};

AgentSwin::AgentSwin(AgentSwinConfig c) : config_(std::move(c)) {
  const AgentSwinConfig& cfg = config_;
  const size_t stages = cfg.depths.size();
  if (cfg.num_heads.size() != stages || cfg.agent_num.size() != stages)
    throw ConfigError("Agent-Swin: depths, num_heads and agent_num need one entry per stage");
  const int64_t reduction = cfg.patch_size << (stages - 1);
  if (cfg.img_size % reduction != 0)
    throw ConfigError("Agent-Swin: img_size " + std::to_string(cfg.img_size) +
                      " must be a multiple of " + std::to_string(reduction));
  patch_embed_ = register_module(
      "patch_embed", std::make_shared<PatchEmbed>(cfg.in_chans, cfg.embed_dim, cfg.patch_size));
  pos_drop_ = register_module("pos_drop", layers::Dropout(cfg.drop_rate));
  int64_t total = 0;
  for (int64_t d : cfg.depths) total += d;
  const std::vector<double> rates = layers::drop_path_rates(cfg.drop_path_rate, total);
  auto layers = register_module("layers", torch::nn::ModuleList());
  int64_t side = cfg.img_size / cfg.patch_size, index = 0;
  for (size_t s = 0; s < stages; ++s) {
    auto layer = std::make_shared<torch::nn::Module>();
    auto blocks = layer->register_module("blocks", torch::nn::ModuleList());
    std::vector<std::shared_ptr<AgentSwinBlock>> stage_blocks;
    for (int64_t b = 0; b < cfg.depths[s]; ++b, ++index) {
      const double dp = rates[index];
      auto block = std::make_shared<AgentSwinBlock>(cfg, s, b, side, dp);
      blocks->push_back(block);
      stage_blocks.push_back(block);
    }
    if (s + 1 < stages)
      downsamples_.push_back(
          layer->register_module("downsample", std::make_shared<PatchMerging>(cfg.embed_dim << s)));
    layers->push_back(layer);
    blocks_.push_back(std::move(stage_blocks));
    side /= 2;
  }
  const int64_t features = cfg.embed_dim << (stages - 1);
  norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({features})));
  if (cfg.num_classes > 0)
    head_ = register_module("head", torch::nn::Linear(features, cfg.num_classes));

  // The official init: linears trunc_normal(0.02) with zero bias, layer norms (1, 0).
  at::NoGradGuard no_grad;
  layers::init_linears_and_norms(*this);
}

std::vector<at::Tensor> AgentSwin::forward_features(const at::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == config_.in_chans &&
                  images.size(2) == config_.img_size && images.size(3) == config_.img_size,
              "Agent-Swin: expected [B, ", config_.in_chans, ", ", config_.img_size, ", ",
              config_.img_size, "] images (the model is built for img_size ", config_.img_size,
              "), got shape ", images.sizes());
  at::Tensor x = pos_drop_->forward(patch_embed_->forward(images));
  std::vector<at::Tensor> pyramid;
  for (size_t s = 0; s < blocks_.size(); ++s) {
    for (auto& block : blocks_[s]) x = block->forward(x);
    pyramid.push_back(x.permute({0, 3, 1, 2}));
    if (s < downsamples_.size()) x = downsamples_[s]->forward(x);
  }
  return pyramid;
}

at::Tensor AgentSwin::forward_head(const at::Tensor& last_level) {
  const at::Tensor pooled = norm_->forward(last_level.flatten(2).transpose(1, 2)).mean(1);
  return head_ ? head_->forward(pooled) : pooled;
}

at::Tensor AgentSwin::forward(const at::Tensor& images) {
  return forward_head(forward_features(images).back());
}

std::vector<int64_t> AgentSwin::feature_channels() const {
  std::vector<int64_t> out;
  for (size_t s = 0; s < config_.depths.size(); ++s) out.push_back(config_.embed_dim << s);
  return out;
}

double AgentSwin::flops(int64_t img_size) const {
  if (img_size != config_.img_size) return 0;  // built for one size
  const AgentSwinConfig& c = config_;
  double side = static_cast<double>(img_size / c.patch_size);
  double f = side * side * c.embed_dim * (c.in_chans * c.patch_size * c.patch_size + 5);
  for (size_t s = 0; s < blocks_.size(); ++s) {
    for (const auto& block : blocks_[s]) f += block->flops();
    const double C = static_cast<double>(c.embed_dim << s);
    if (s + 1 < blocks_.size()) {
      f += side * side * C * 5 + side * side / 4 * 4 * C * 2 * C;
      side /= 2;
    }
  }
  const double features = static_cast<double>(c.embed_dim << (blocks_.size() - 1));
  return f + side * side * features * 5 + (head_ ? features * c.num_classes : 0);
}

namespace {

AgentSwinConfig apply_overrides(AgentSwinConfig c, const config::ConfigView& view) {
  static const auto table = regularised_classifier_options<AgentSwinConfig>()
                                .field("img_size", &AgentSwinConfig::img_size)
                                .field("attn_type", &AgentSwinConfig::attn_type)
                                .field("agent_num", &AgentSwinConfig::agent_num)
                                .field("window_size", &AgentSwinConfig::window_size);
  return table.apply(view, c);
}

void add(ModelRegistry& registry, const char* name, const AgentSwinConfig& c, PaperNumbers paper) {
  add_sized_model<AgentSwin>(registry, name, "Agent-Swin", c, paper, &apply_overrides);
}

}  // namespace

void register_agent_swin_family(ModelRegistry& r) {
  AgentSwinConfig t;  // cfgs/agent_swin_t.yaml
  add(r, "agent_swin_t", t, {29, 4.5, 82.6});
  AgentSwinConfig s = t;  // cfgs/agent_swin_s.yaml
  s.depths = {2, 2, 18, 2};
  s.attn_type = "AABB";
  s.drop_path_rate = 0.3;
  add(r, "agent_swin_s", s, {50, 8.7, 83.7});
  AgentSwinConfig b = s;  // cfgs/agent_swin_b.yaml
  b.embed_dim = 128;
  b.num_heads = {4, 8, 16, 32};
  b.attn_type = "AAMB2";
  b.drop_path_rate = 0.5;
  add(r, "agent_swin_b", b, {88, 15.4, 84.0});
}

}  // namespace vitrine::models
