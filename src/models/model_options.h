// The config keys every zoo model shares, declared once: each family starts its option table
// (config/option_table.h) from these and adds its own keys.
#pragma once

#include "config/option_table.h"

namespace vitrine::models {

// The registry's own keys, valid in every model node: `name` picks the entry, `pretrained`
// and `pretrained_strict` are read by ModelRegistry::create.
template <typename Config>
config::OptionTable<Config> model_options() {
  config::OptionTable<Config> table;
  table.known("name").known("pretrained").known("pretrained_strict");
  return table;
}

// ... plus a classifier's output classes (0: no head) and input channels.
template <typename Config>
config::OptionTable<Config> classifier_options() {
  config::OptionTable<Config> table = model_options<Config>();
  table.field("num_classes", &Config::num_classes).field("in_chans", &Config::in_chans);
  return table;
}

// ... plus timm's regularisation rates (stochastic depth, dropout after the embedding and
// before the head, attention dropout).
template <typename Config>
config::OptionTable<Config> regularised_classifier_options() {
  config::OptionTable<Config> table = classifier_options<Config>();
  table.field("drop_path_rate", &Config::drop_path_rate)
      .field("drop_rate", &Config::drop_rate)
      .field("attn_drop_rate", &Config::attn_drop_rate);
  return table;
}

// ... for detectors and segmentors: their classes, and the keys create_backbone reads (the
// `backbone` node, the input channels it passes on).
template <typename Config>
config::OptionTable<Config> dense_model_options() {
  config::OptionTable<Config> table = model_options<Config>();
  table.field("num_classes", &Config::num_classes).known("backbone").known("in_chans");
  return table;
}

}  // namespace vitrine::models
