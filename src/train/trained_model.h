// A trained model back from its checkpoint: the one place `vitrine eval` and `vitrine export`
// (and anything else that serves a checkpoint) decide which model to build and which weights to
// load into it.
#pragma once

#include <optional>
#include <string>

#include "config/node.h"
#include "models/registry.h"
#include "train/checkpoint.h"

namespace vitrine::train {

struct TrainedModelRequest {
  std::string checkpoint;  // a last.pt / best.pt / checkpoint-N.pt of vitrine train
  // The model node to build instead of the one the checkpoint was trained with (a command line
  // that overrides model.*).
  std::optional<config::Node> model;
  // A model name the checkpoint must have been written for (export's model=NAME); empty: any.
  std::string expected_arch;
  bool use_ema = false;  // load the EMA weights (timm's --use-ema)
};

struct TrainedModel {
  models::ModelPtr model;     // weights loaded, on the CPU
  config::Node model_config;  // the model node it was built from (pretrained: null)
  std::string name;           // model_config's name
  CheckpointContents contents;
};

// Builds the model from, in order: request.model; the model node of the config saved in the
// checkpoint; the checkpoint's arch with its registered defaults. Then loads the checkpoint's
// weights strictly (EMA ones when asked). Throws ConfigError naming the checkpoint when it
// names no model, was written for another arch than expected, or holds no EMA weights.
TrainedModel load_trained_model(const TrainedModelRequest& request);
// The same over a checkpoint already read (request.checkpoint names it in messages).
TrainedModel load_trained_model(const TrainedModelRequest& request, CheckpointContents contents);

}  // namespace vitrine::train
