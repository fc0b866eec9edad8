#include "train/trained_model.h"

#include "config/view.h"
#include "config/yaml_io.h"
#include "core/error.h"
#include "models/checkpoint/state_dict.h"

namespace vitrine::train {

TrainedModel load_trained_model(const TrainedModelRequest& request) {
  return load_trained_model(request, read_checkpoint(request.checkpoint));
}

TrainedModel load_trained_model(const TrainedModelRequest& request, CheckpointContents contents) {
  const std::string& path = request.checkpoint;
  TrainedModel out;
  out.contents = std::move(contents);
  const CheckpointContents& c = out.contents;
  if (!request.expected_arch.empty() && !c.arch.empty() && c.arch != request.expected_arch)
    throw ConfigError("checkpoint " + path + " was written for model '" + c.arch + "', not '" +
                      request.expected_arch + "'");

  config::Node model_node = config::Node::dict();
  if (request.model) {
    model_node = *request.model;
  } else if (!c.config_yaml.empty()) {
    const config::Node trained = config::load_yaml(c.config_yaml, path);
    if (const config::Node* m = trained.find("model")) model_node = *m;
  }
  if (!model_node.find("name")) {
    const std::string arch = !c.arch.empty() ? c.arch : request.expected_arch;
    if (arch.empty()) throw ConfigError(path + " names no model: pass model=NAME");
    model_node.set("name", config::Node(arch));
  }
  model_node.set("pretrained", config::Node());  // the checkpoint supplies the weights
  out.model = models::ModelRegistry::builtin().create(config::ConfigView(model_node, "model"));
  if (request.use_ema && !c.ema)
    throw ConfigError(path + " holds no EMA weights (trained without trainer.ema)");
  models::checkpoint::load_state_dict(*out.model, request.use_ema ? *c.ema : c.model, true, path);
  out.name = model_node.find("name")->as_string();
  out.model_config = std::move(model_node);
  return out;
}

}  // namespace vitrine::train
