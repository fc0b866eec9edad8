#include "models/backbones/byobnet.h"

#include <ATen/ATen.h>

#include <cmath>
#include <functional>
#include <set>

#include "attention/bottleneck_attention.h"
#include "attention/halo_attention.h"
#include "attention/lambda_layer.h"
#include "core/error.h"
#include "layers/make_divisible.h"

namespace vitrine::models {
namespace {

int64_t groups_for(int64_t group_size, int64_t channels) {
  if (group_size <= 0) return 1;
  if (channels % group_size != 0)
    throw ConfigError("group size " + std::to_string(group_size) + " does not divide " +
                      std::to_string(channels) + " channels");
  return channels / group_size;
}

// What a block needs from the model and its stage.
struct BlockArgs {
  int64_t in = 0, out = 0, stride = 1;
  const ByoBlockCfg* cfg = nullptr;
  const ByoModelCfg* model = nullptr;
  double drop_path = 0;
  int64_t feat_h = 0, feat_w = 0;  // the block's input map at the model's img_size (0: unknown)
};

// The shortcut timm's create_shortcut builds: identity when shapes match, else a strided
// 1x1 ConvNormAct without activation (downsample "conv1x1"), or none at all ("").
struct Shortcut {
  bool identity = true;
  layers::ConvNormAct conv{nullptr};
};

Shortcut make_shortcut(torch::nn::Module& owner, const BlockArgs& a) {
  Shortcut s;
  if (a.in == a.out && a.stride == 1) return s;
  s.identity = false;
  if (a.model->downsample == "conv1x1") {
    s.conv = owner.register_module(
        "shortcut",
        layers::conv_norm_act(a.in, a.out, 1, layers::Activation::kNone, a.stride, 1, false));
  } else if (!a.model->downsample.empty()) {
    throw ConfigError("downsample must be conv1x1 or empty, got '" + a.model->downsample + "'");
  }
  return s;
}

at::Tensor finish_block(Shortcut s, const at::Tensor& input, at::Tensor x,
                        layers::DropPath drop_path, const ByoModelCfg& model,
                        layers::Activation act) {
  x = drop_path->forward(x);
  if (s.identity)
    x = x + input;
  else if (s.conv)
    x = x + s.conv->forward(input);
  return model.linear_out ? x : layers::activate(act, x);
}

double shortcut_macs(const Shortcut& s, int64_t h, int64_t w) {
  return s.conv ? s.conv->macs(h, w) : 0.0;
}

int64_t bottleneck_width(const BlockArgs& a) {
  return layers::make_divisible(static_cast<double>(a.model->bottle_in ? a.in : a.out) * a.cfg->br);
}

// 1x1 -> kxk (stride, groups) -> channel attention -> 1x1 -> drop path + shortcut -> act.
class BottleneckBlock : public ByoBlock {
 public:
  explicit BottleneckBlock(const BlockArgs& a) : model_(*a.model) {
    act_ = layers::activation_from_name(a.model->act);
    const int64_t mid = bottleneck_width(a);
    shortcut_ = make_shortcut(*this, a);
    conv1_1x1 = register_module("conv1_1x1", layers::conv_norm_act(a.in, mid, 1, act_));
    conv2_kxk = register_module("conv2_kxk", layers::conv_norm_act(mid, mid, 3, act_, a.stride,
                                                                   groups_for(a.cfg->gs, mid)));
    attn_ = layers::make_channel_attention(a.model->attn_layer, mid, a.model->se_rd_ratio);
    if (attn_) register_module("attn", attn_);
    conv3_1x1 =
        register_module("conv3_1x1", layers::conv_norm_act(mid, a.out, 1, act_, 1, 1, false));
    drop_path_ = register_module("drop_path", layers::DropPath(a.drop_path));
  }

  at::Tensor forward(const at::Tensor& input) override {
    at::Tensor x = conv2_kxk->forward(conv1_1x1->forward(input));
    if (attn_) x = attn_->forward(x);
    return finish_block(shortcut_, input, conv3_1x1->forward(x), drop_path_, model_, act_);
  }

  double macs(int64_t& h, int64_t& w) const override {
    double total = shortcut_macs(shortcut_, h, w);
    total += conv1_1x1->macs(h, w) + conv2_kxk->macs(h, w);
    if (attn_) total += attn_->macs(h, w);
    return total + conv3_1x1->macs(h, w);
  }

  void init_weights(bool zero_init_last) override {
    if (zero_init_last && (shortcut_.identity || shortcut_.conv)) {
      at::NoGradGuard no_grad;
      conv3_1x1->bn->weight.zero_();
    }
  }

  layers::ConvNormAct conv1_1x1{nullptr}, conv2_kxk{nullptr}, conv3_1x1{nullptr};

 private:
  const ByoModelCfg& model_;
  layers::Activation act_;
  Shortcut shortcut_;
  std::shared_ptr<layers::ChannelAttention> attn_;
  layers::DropPath drop_path_{nullptr};
};

// The attention of a self-attention block behind one interface: timm's three self_attn
// layers differ only in their options and cost.
struct AttentionLayer {
  std::shared_ptr<torch::nn::Module> module;
  std::function<at::Tensor(const at::Tensor&)> forward;
  std::function<double(int64_t h, int64_t w)> macs;  // at the block's input size
  std::function<void()> reset;
  int64_t out_channels = 0;
};

// Fills the options every layer shares and wraps the built module.
template <typename Module, typename Options>
AttentionLayer wrap_attention(Options o, const SelfAttnSettings& s, int64_t dim, int64_t dim_out,
                              int64_t dim_head, int64_t stride) {
  o.dim = dim;
  o.dim_out = dim_out;
  o.stride = stride;
  o.num_heads = s.num_heads;
  o.dim_head = dim_head;
  o.qk_ratio = s.qk_ratio;
  Module m(o);
  AttentionLayer layer;
  layer.out_channels = dim_out;
  layer.module = m.ptr();
  layer.forward = [p = m.ptr()](const at::Tensor& x) { return p->forward(x); };
  layer.macs = [p = m.ptr()](int64_t h, int64_t w) { return p->macs(h, w); };
  layer.reset = [p = m.ptr()] { p->reset_parameters(); };
  return layer;
}

AttentionLayer make_attention_layer(const SelfAttnSettings& s, int64_t dim, int64_t stride,
                                    int64_t feat_h, int64_t feat_w) {
  if (s.value_ratio <= 0) throw ConfigError("self-attention value_ratio must be positive");
  // r_v widens the values only: q/k per head keep the width they would have at r_v = 1.
  const int64_t dim_out =
      static_cast<int64_t>(std::lround(static_cast<double>(dim) * s.value_ratio));
  const int64_t dim_head =
      s.dim_head > 0 || s.value_ratio == 1.0
          ? s.dim_head
          : layers::make_divisible(static_cast<double>(dim) * s.qk_ratio) / s.num_heads;
  if (s.layer == "halo") {
    attention::HaloAttentionOptions o;
    o.block_size = s.block_size;
    o.halo_size = s.halo_size;
    return wrap_attention<attention::HaloAttention>(o, s, dim, dim_out, dim_head, stride);
  }
  if (s.layer == "bottleneck") {
    if (feat_h <= 0)
      throw ConfigError(
          "bottleneck self-attention needs a fixed input size: set the model's img_size");
    attention::BottleneckAttentionOptions o;
    o.height = feat_h;
    o.width = feat_w;
    return wrap_attention<attention::BottleneckAttention>(o, s, dim, dim_out, dim_head, stride);
  }
  if (s.layer == "lambda") {
    attention::LambdaLayerOptions o;
    o.r = s.lambda_r;
    o.height = feat_h;
    o.width = feat_w;
    return wrap_attention<attention::LambdaLayer>(o, s, dim, dim_out, dim_head, stride);
  }
  throw ConfigError("unknown self-attention layer '" + s.layer + "' (halo, bottleneck or lambda)");
}

// 1x1 -> self-attention (stride) -> BN + act -> 1x1 -> drop path + shortcut -> act.
class SelfAttnBlock : public ByoBlock {
 public:
  explicit SelfAttnBlock(const BlockArgs& a) : model_(*a.model) {
    act_ = layers::activation_from_name(a.model->act);
    const int64_t mid = bottleneck_width(a);
    shortcut_ = make_shortcut(*this, a);
    conv1_1x1 = register_module("conv1_1x1", layers::conv_norm_act(a.in, mid, 1, act_));
    const SelfAttnSettings& s = a.cfg->self_attn ? *a.cfg->self_attn : a.model->self_attn;
    attention_ = make_attention_layer(s, mid, a.stride, a.feat_h, a.feat_w);
    register_module("self_attn", attention_.module);
    stride_ = a.stride;
    const int64_t width = attention_.out_channels;
    post_attn = register_module("post_attn", layers::BatchNormAct2d(width, act_));
    conv3_1x1 =
        register_module("conv3_1x1", layers::conv_norm_act(width, a.out, 1, act_, 1, 1, false));
    drop_path_ = register_module("drop_path", layers::DropPath(a.drop_path));
  }

  at::Tensor forward(const at::Tensor& input) override {
    at::Tensor x = post_attn->forward(attention_.forward(conv1_1x1->forward(input)));
    return finish_block(shortcut_, input, conv3_1x1->forward(x), drop_path_, model_, act_);
  }

  double macs(int64_t& h, int64_t& w) const override {
    double total = shortcut_macs(shortcut_, h, w) + conv1_1x1->macs(h, w);
    total += attention_.macs(h, w);
    h /= stride_;
    w /= stride_;
    return total + conv3_1x1->macs(h, w);
  }

  void init_weights(bool zero_init_last) override {
    if (zero_init_last && (shortcut_.identity || shortcut_.conv)) {
      at::NoGradGuard no_grad;
      conv3_1x1->bn->weight.zero_();
    }
    attention_.reset();
  }

  layers::ConvNormAct conv1_1x1{nullptr}, conv3_1x1{nullptr};
  layers::BatchNormAct2d post_attn{nullptr};

 private:
  const ByoModelCfg& model_;
  layers::Activation act_;
  Shortcut shortcut_;
  AttentionLayer attention_;
  int64_t stride_ = 1;
  layers::DropPath drop_path_{nullptr};
};

// timm's _init_weights: convs normal(0, sqrt(2 / fan_out)), linears normal(0, 0.01), zero
// biases, batch norms (1, 0).
void init_module(torch::nn::Module& m) {
  at::NoGradGuard no_grad;
  if (auto* conv = m.as<torch::nn::Conv2d>()) {
    const auto& o = conv->options;
    const double fan_out =
        static_cast<double>((*o.kernel_size())[0] * (*o.kernel_size())[1] * o.out_channels()) /
        o.groups();
    conv->weight.normal_(0, std::sqrt(2.0 / fan_out));
    if (conv->bias.defined()) conv->bias.zero_();
  } else if (auto* linear = m.as<torch::nn::Linear>()) {
    linear->weight.normal_(0, 0.01);
    if (linear->bias.defined()) linear->bias.zero_();
  } else if (auto* bn = dynamic_cast<layers::BatchNormAct2dImpl*>(&m)) {
    bn->weight.fill_(1);
    bn->bias.zero_();
  }
}

}  // namespace

SelfAttnSettings bottleneck_attention() {
  SelfAttnSettings s;
  s.layer = "bottleneck";
  s.num_heads = 4;
  return s;
}

SelfAttnSettings lambda_layer(int64_t r) {
  SelfAttnSettings s;
  s.layer = "lambda";
  s.num_heads = 4;
  s.dim_head = 16;
  s.lambda_r = r;
  return s;
}

std::vector<ByoBlockCfg> interleave_blocks(const std::string& first, const std::string& second,
                                           int64_t d, const std::vector<int64_t>& every,
                                           const ByoBlockCfg& block) {
  const std::set<int64_t> picked(every.begin(), every.end());
  std::vector<ByoBlockCfg> out;
  for (int64_t i = 0; i < d; ++i) {
    ByoBlockCfg b = block;
    b.type = picked.count(i) ? second : first;
    out.push_back(b);
  }
  return out;
}

std::vector<ByoBlockCfg> interleave_blocks(const std::string& first, const std::string& second,
                                           int64_t d, int64_t every, const ByoBlockCfg& block) {
  std::vector<int64_t> picked;
  for (int64_t i = every; i < d; i += every + 1) picked.push_back(i);
  if (picked.empty()) picked.push_back(d - 1);
  return interleave_blocks(first, second, d, picked, block);
}

std::vector<ByoBlockCfg> repeat_block(int64_t d, const ByoBlockCfg& block) {
  return std::vector<ByoBlockCfg>(static_cast<size_t>(d), block);
}

ByobNet::ByobNet(ByoModelCfg cfg) : cfg_(std::move(cfg)) {
  act_ = layers::activation_from_name(cfg_.act);
  // Stem: timm's Stem (a named stack conv1..convN [+ pool]) or, for a pool-less 3x3 or 7x7
  // stem, one ConvNormAct registered as `stem` itself.
  const int64_t sc = cfg_.stem_chs;
  std::vector<int64_t> widths, strides;
  int64_t kernel = 3;
  stem_pool_ = !cfg_.stem_pool.empty();
  if (cfg_.stem_type == "tiered") {
    widths = {3 * sc / 8, sc / 2, sc};
    strides = {2, 1, stem_pool_ ? 1 : 2};
  } else if (cfg_.stem_type == "7x7" || cfg_.stem_type == "3x3") {
    kernel = cfg_.stem_type == "7x7" ? 7 : 3;
    widths = {sc};
    strides = {2};
  } else {
    throw ConfigError("stem_type must be tiered, 7x7 or 3x3, got '" + cfg_.stem_type + "'");
  }
  if (stem_pool_ && cfg_.stem_pool != "maxpool")
    throw ConfigError("stem_pool must be maxpool or empty, got '" + cfg_.stem_pool + "'");
  const bool stem_sequence = widths.size() > 1 || stem_pool_;
  auto stem = stem_sequence ? std::make_shared<torch::nn::Module>() : nullptr;
  int64_t prev = cfg_.in_chans;
  for (size_t i = 0; i < widths.size(); ++i) {
    layers::ConvNormAct c = layers::conv_norm_act(prev, widths[i], kernel, act_, strides[i]);
    if (stem_sequence)
      stem->register_module("conv" + std::to_string(i + 1), c);
    else
      register_module("stem", c);
    stem_convs_.push_back(c);
    prev = widths[i];
  }
  if (stem_sequence) register_module("stem", stem);

  // The map size along the network (timm's feat_size), for layers built for one size: the
  // stem reduces by 4 (2 without a pooling stem of one conv), each stage's first block by its
  // stride.
  int64_t feat = 0;
  if (cfg_.img_size > 0) {
    int64_t reduction = 1;
    for (int64_t s : strides) reduction *= s;
    feat = cfg_.img_size / (reduction * (stem_pool_ ? 2 : 1));
  }

  // Stages; drop path rises linearly over all blocks.
  int64_t total_blocks = 0;
  for (const auto& stage : cfg_.stages) total_blocks += static_cast<int64_t>(stage.size());
  const std::vector<double> rates = layers::drop_path_rates(cfg_.drop_path_rate, total_blocks);
  auto stages = register_module("stages", torch::nn::ModuleList());
  int64_t index = 0;
  for (const auto& stage_cfg : cfg_.stages) {
    auto stage = torch::nn::ModuleList();
    std::vector<std::shared_ptr<ByoBlock>> blocks;
    for (size_t b = 0; b < stage_cfg.size(); ++b) {
      BlockArgs a;
      a.cfg = &stage_cfg[b];
      a.model = &cfg_;
      a.in = prev;
      a.out = layers::make_divisible(static_cast<double>(a.cfg->c));
      a.stride = b == 0 ? a.cfg->s : 1;
      a.drop_path = rates[index];
      a.feat_h = a.feat_w = feat;
      ++index;
      std::shared_ptr<ByoBlock> block;
      if (a.cfg->type == "bottle")
        block = std::make_shared<BottleneckBlock>(a);
      else if (a.cfg->type == "self_attn")
        block = std::make_shared<SelfAttnBlock>(a);
      else
        throw ConfigError("unknown block type '" + a.cfg->type + "' (bottle or self_attn)");
      stage->push_back(block);
      blocks.push_back(block);
      prev = a.out;
      if (b == 0 && a.stride > 1) feat /= a.stride;
    }
    stages->push_back(stage);
    blocks_.push_back(std::move(blocks));
    stage_channels_.push_back(prev);
  }
  if (cfg_.num_features > 0) {
    final_conv_ =
        register_module("final_conv", layers::conv_norm_act(prev, cfg_.num_features, 1, act_));
    prev = cfg_.num_features;
  }
  num_features_ = prev;
  head_drop_ = register_module("head_drop", layers::Dropout(cfg_.drop_rate));
  auto head = register_module("head", std::make_shared<torch::nn::Module>());
  if (cfg_.num_classes > 0)
    fc_ = head->register_module("fc", torch::nn::Linear(num_features_, cfg_.num_classes));

  for (auto& m : modules(/*include_self=*/false)) init_module(*m);
  for (auto& stage : blocks_)
    for (auto& block : stage) block->init_weights(cfg_.zero_init_last);
}

at::Tensor ByobNet::run_stem(const at::Tensor& x) {
  at::Tensor y = x;
  for (auto& conv : stem_convs_) y = conv->forward(y);
  return stem_pool_ ? at::max_pool2d(y, {3, 3}, {2, 2}, {1, 1}) : y;
}

std::vector<at::Tensor> ByobNet::forward_features(const at::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == cfg_.in_chans, "ByobNet: expected [B, ",
              cfg_.in_chans, ", H, W] images, got shape ", images.sizes());
  std::vector<at::Tensor> pyramid;
  at::Tensor x = run_stem(images);
  for (auto& stage : blocks_) {
    for (auto& block : stage) x = block->forward(x);
    pyramid.push_back(x);
  }
  if (final_conv_) pyramid.back() = final_conv_->forward(pyramid.back());
  return pyramid;
}

at::Tensor ByobNet::forward_head(const at::Tensor& last_level) {
  at::Tensor pooled = head_drop_->forward(last_level.mean({2, 3}));
  return fc_ ? fc_->forward(pooled) : pooled;
}

at::Tensor ByobNet::forward(const at::Tensor& images) {
  return forward_head(forward_features(images).back());
}

std::vector<int64_t> ByobNet::feature_channels() const {
  std::vector<int64_t> channels = stage_channels_;
  channels.back() = num_features_;
  return channels;
}

double ByobNet::flops(int64_t img_size) const {
  int64_t h = img_size, w = img_size;
  double total = 0;
  for (const auto& conv : stem_convs_) total += conv->macs(h, w);
  if (stem_pool_) {
    h = (h + 1) / 2;
    w = (w + 1) / 2;
  }
  for (const auto& stage : blocks_)
    for (const auto& block : stage) total += block->macs(h, w);
  if (final_conv_) total += final_conv_->macs(h, w);
  if (fc_) total += static_cast<double>(fc_->weight.numel());
  return total;
}

}  // namespace vitrine::models
