#include "models/registry.h"

#include <algorithm>
#include <iostream>

#include "core/error.h"
#include "core/text.h"
#include "models/backbones/agent_deit.h"
#include "models/backbones/agent_pvt.h"
#include "models/backbones/agent_swin.h"
#include "models/backbones/byobnet.h"
#include "models/backbones/duoformer.h"
#include "models/backbones/nat.h"
#include "models/backbones/resnet.h"
#include "models/checkpoint/state_dict.h"
#include "models/detectors/retinanet_detector.h"
#include "models/segmentors/encoder_decoder.h"
#include "models/sr/catanet.h"

namespace vitrine::models {

// Each family adds its variants here as it lands (explicit calls rather than static
// registrars, which a static library would silently drop at link time).
static ModelRegistry make_builtin() {
  ModelRegistry registry;
  register_nat_family(registry);
  register_halonet_family(registry);
  register_agent_swin_family(registry);
  register_agent_deit_family(registry);
  register_agent_pvt_family(registry);
  register_resnet_family(registry);
  register_duoformer_family(registry);
  register_catanet_family(registry);
  register_detectors(registry);
  register_segmentors(registry);
  return registry;
}

const ModelRegistry& ModelRegistry::builtin() {
  static const ModelRegistry registry = make_builtin();
  return registry;
}

void ModelRegistry::add(ModelEntry entry) {
  for (const auto& e : entries_)
    if (e.name == entry.name) throw std::logic_error("model '" + entry.name + "' registered twice");
  entries_.push_back(std::move(entry));
}

const ModelEntry& ModelRegistry::get(const std::string& name) const {
  std::vector<std::string> names;
  for (const auto& e : entries_) {
    if (e.name == name) return e;
    names.push_back(e.name);
  }
  throw ConfigError(
      "Unknown model '" + name + "'" + did_you_mean(name, names) +
      (names.empty() ? ". No models are registered yet" : ". Run `vitrine models` for the list"));
}

ModelPtr ModelRegistry::create(const config::ConfigView& view) const {
  ModelPtr model = get(view.get_string("name")).create(view);
  const std::optional<std::string> pretrained =
      view.has("pretrained") ? view.get_optional_string("pretrained") : std::nullopt;
  if (pretrained) {
    const bool strict = view.get_bool("pretrained_strict", true);
    checkpoint::StateDict state = checkpoint::load_state_dict_file(*pretrained);
    for (const std::string& prefix : model->dropped_checkpoint_prefixes()) {
      const size_t before = state.size();
      state.erase(
          std::remove_if(state.begin(), state.end(),
                         [&](const auto& entry) { return entry.first.rfind(prefix, 0) == 0; }),
          state.end());
      if (state.size() != before)
        std::cerr << "pretrained " << *pretrained << ": left out " << before - state.size()
                  << " entries under " << prefix << " (not part of this model)\n";
    }
    const checkpoint::LoadReport report =
        checkpoint::load_state_dict(*model, state, strict, *pretrained);
    std::cerr << "pretrained " << *pretrained << ": " << report.describe() << "\n";
  }
  return model;
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t total = 0;
  for (const auto& p : module.parameters()) total += p.numel();
  return total;
}

ModelPtr create_backbone(const config::ConfigView& model, config::Node fallback) {
  config::Node node = model.has("backbone") ? model.child("backbone").node() : std::move(fallback);
  node.set("num_classes", config::Node(int64_t{0}));
  if (model.has("in_chans") && !node.find("in_chans"))
    node.set("in_chans", config::Node(model.get_int("in_chans")));
  return ModelRegistry::builtin().create(config::ConfigView(node, model.path() + ".backbone"));
}

config::Node backbone_node(const std::string& name, int64_t base_width) {
  config::Node node = config::Node::dict();
  node.set("name", config::Node(name));
  if (base_width > 0) node.set("base_width", config::Node(base_width));
  return node;
}

std::vector<int64_t> four_level_channels(const Model& backbone, const std::string& who) {
  std::vector<int64_t> channels = backbone.feature_channels();
  if (channels.size() != 4)
    throw ConfigError(who + ": the backbone must give a four-level pyramid (strides 4..32), " +
                      "this one gives " + std::to_string(channels.size()) + " levels");
  return channels;
}

}  // namespace vitrine::models
