// The model zoo's registry: every variant by name, with the numbers its paper reports so
// tests and `vitrine models` can compare against them (timm's create_model(name) idea).
#pragma once

#include <torch/nn/module.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/view.h"

namespace vitrine::models {

// What every zoo model offers: logits from images, and (for hierarchical models) the
// feature pyramid that dense-prediction necks consume.
class Model : public torch::nn::Module {
 public:
  // images [B, C, H, W] -> logits [B, num_classes] (pooled features when num_classes is 0).
  virtual torch::Tensor forward(const torch::Tensor& images) = 0;
  // The feature pyramid, finest first, each [B, C_i, H_i, W_i].
  virtual std::vector<torch::Tensor> forward_features(const torch::Tensor& images) = 0;
  // The classifier on forward_features' last level: norm, pool, head.
  virtual torch::Tensor forward_head(const torch::Tensor& last_level) = 0;
  // Channels of each pyramid level.
  virtual std::vector<int64_t> feature_channels() const = 0;
  // FLOPs for one image at `img_size` x `img_size`, counted analytically per layer the way
  // the papers count them (fvcore: one multiply-add = one FLOP; norms 5 per element;
  // activations, residual adds and pooling free).
  virtual double flops(int64_t img_size) const = 0;
  // Name fragments of parameters the paper trains without weight decay beyond norms and
  // biases (NAT/DiNAT: the relative positional bias "rpb").
  virtual std::vector<std::string> no_weight_decay_keywords() const { return {}; }
  // True for models whose training forward changes buffers from the batch itself (CATANet's
  // token centres): such a model cannot run slices of a batch concurrently.
  virtual bool updates_state_in_forward() const { return false; }
  // Key prefixes of the official model's state dicts that this model leaves out on purpose
  // (timm's checkpoint_filter_fn): dropped from a model.pretrained file before loading, with a
  // line saying how many, so official weights load strictly.
  virtual std::vector<std::string> dropped_checkpoint_prefixes() const { return {}; }
};
using ModelPtr = std::shared_ptr<Model>;

// Numbers the paper (or the official repository) reports for a variant.
struct PaperNumbers {
  double params_m = 0;  // millions
  double gflops = 0;    // at img_size
  double top1 = 0;      // ImageNet-1k top-1, percent (0 when not reported)
};

struct ModelEntry {
  std::string name;    // "dinat_tiny"
  std::string family;  // "DiNAT"
  int64_t img_size = 224;
  int64_t in_chans = 3;
  int64_t num_classes = 1000;
  PaperNumbers paper;
  // Builds the model from its config node (model.*), which may override the defaults.
  std::function<ModelPtr(const config::ConfigView&)> create;
  // Parameter count and FLOPs (at a given image size) of the default config, computed without
  // building the model; listings use them when set.
  std::function<int64_t()> count_parameters;
  std::function<double(int64_t img_size)> count_flops;
};

class ModelRegistry {
 public:
  // The registry with every built-in family registered.
  static const ModelRegistry& builtin();

  void add(ModelEntry entry);
  // Throws ConfigError naming the unknown model, with a suggestion.
  const ModelEntry& get(const std::string& name) const;
  const std::vector<ModelEntry>& entries() const { return entries_; }
  // Builds the model named by the node's `name` with the node's overrides, then, when
  // `pretrained` names a checkpoint (torch.save file or ours), loads its state dict by name
  // (strictly unless `pretrained_strict: false`) and logs what did not match.
  ModelPtr create(const config::ConfigView& view) const;

 private:
  std::vector<ModelEntry> entries_;
};

int64_t count_parameters(const torch::nn::Module& module);

// The backbone of a detector or segmentor: the model node's `backbone` child (or `fallback`
// when it has none), built from the registry without its classifier (num_classes 0) and with
// the model's in_chans unless the backbone sets its own. Its `pretrained` file loads as usual.
ModelPtr create_backbone(const config::ConfigView& model, config::Node fallback);
// A backbone node naming a registered model, with ResNet's `base_width` when given (> 0): the
// fallbacks registered detectors and segmentors pass to create_backbone.
config::Node backbone_node(const std::string& name, int64_t base_width = 0);
// The channels of a backbone's four pyramid levels (strides 4..32); ConfigError naming `who`
// for a backbone with another number of levels.
std::vector<int64_t> four_level_channels(const Model& backbone, const std::string& who);

// Registers a model built for one image size (its position biases or embeddings have the
// token grid's size): `create` applies `overrides` to `config`, and FLOPs at another size are
// counted by building the model at that size. Config needs img_size, in_chans, num_classes.
template <typename ModelType, typename Config>
void add_sized_model(ModelRegistry& registry, const char* name, const char* family,
                     const Config& config, PaperNumbers paper,
                     Config (*overrides)(Config, const config::ConfigView&)) {
  ModelEntry e;
  e.name = name;
  e.family = family;
  e.img_size = config.img_size;
  e.in_chans = config.in_chans;
  e.num_classes = config.num_classes;
  e.paper = paper;
  e.create = [config, overrides](const config::ConfigView& view) -> ModelPtr {
    return std::make_shared<ModelType>(overrides(config, view));
  };
  e.count_flops = [config](int64_t img_size) {
    Config sized = config;
    sized.img_size = img_size;
    return ModelType(sized).flops(img_size);
  };
  registry.add(std::move(e));
}

}  // namespace vitrine::models
