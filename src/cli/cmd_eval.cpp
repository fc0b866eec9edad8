#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "cli/results_file.h"
#include "config/job.h"
#include "config/resolve.h"
#include "config/yaml_io.h"
#include "core/error.h"
#include "core/runtime.h"
#include "data/loader_factory.h"
#include "models/checkpoint/state_dict.h"
#include "models/registry.h"
#include "train/checkpoint.h"
#include "train/classification_task.h"
#include "train/run_log.h"

namespace vitrine::cli {

int run_eval(const HydraFlags& flags, const EvalOptions& eval) {
  if (!flags.cfg.empty()) {
    print_config(flags, flags.cfg);
    return kExitOk;
  }
  // `checkpoint=` and `use_ema=` are eval's own arguments, not config overrides.
  std::string checkpoint_path = eval.checkpoint;
  bool use_ema = eval.use_ema;
  std::vector<std::string> overrides;
  bool model_overridden = false;
  for (const auto& text : flags.request.overrides) {
    if (text.rfind("checkpoint=", 0) == 0) {
      checkpoint_path = text.substr(11);
    } else if (text.rfind("use_ema=", 0) == 0) {
      use_ema = text.substr(8) == "true";
    } else {
      model_overridden |= text.rfind("model", 0) == 0;
      overrides.push_back(text);
    }
  }
  if (checkpoint_path.empty())
    throw UsageError("vitrine eval needs checkpoint=PATH (a last.pt/best.pt of vitrine train)");

  config::ConfigRepository repo = config::make_repository(flags.request.config_dirs);
  config::ComposeOptions options;
  options.config_name = flags.request.config_name;
  options.job_name = "eval";
  const config::Node resolved =
      config::Resolver(config::compose(repo, config::parse_overrides(overrides), options).config)
          .resolve_all();
  config::require_complete(resolved);
  const config::Node composed = config::job_config(resolved);
  const config::ConfigView root(composed, "");
  configure_runtime(static_cast<int>(root.get_int("threads")));
  const at::Device device = parse_device(root.get_string("device"));

  const train::CheckpointContents contents = train::read_checkpoint(checkpoint_path);
  // The model as it was trained (the checkpoint's own config), unless the command line says
  // otherwise.
  config::Node model_node = *composed.find("model");
  if (!model_overridden && !contents.config_yaml.empty()) {
    const config::Node trained = config::load_yaml(contents.config_yaml, checkpoint_path);
    if (const config::Node* m = trained.find("model")) model_node = *m;
  }
  model_node.set("pretrained", config::Node());  // the checkpoint supplies the weights
  const models::ModelPtr model =
      models::ModelRegistry::builtin().create(config::ConfigView(model_node, "model"));
  if (use_ema && !contents.ema)
    throw ConfigError(checkpoint_path + " holds no EMA weights (trained without trainer.ema)");
  models::checkpoint::load_state_dict(*model, use_ema ? *contents.ema : contents.model, true,
                                      checkpoint_path);
  model->to(device);

  const config::ConfigView data = root.child("data");
  auto loader = data::make_loader(data, false, static_cast<uint64_t>(root.get_int("seed")));
  train::ClassificationTask task(root.child("task"), data.child("augment"),
                                 data.get_int("num_classes"));
  const auto start = std::chrono::steady_clock::now();
  const train::MetricList metrics = task.evaluate(*model, *loader, device);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // timm validate.py's result fields, plus loss and throughput.
  ResultRow fields = {{"model", model_node.find("name")->as_string(), false}};
  for (const auto& [key, value] : metrics) {
    fields.push_back({key, format_number(value, key == "loss" ? 4 : 3), true});
    if (key.rfind("top", 0) == 0)
      fields.push_back({key + "_err", format_number(100.0 - value, 3), true});
  }
  const double param_count = static_cast<double>(models::count_parameters(*model)) / 1e6;
  fields.push_back({"param_count", format_number(param_count, 2), true});
  fields.push_back({"img_size", std::to_string(data.get_int("img_size")), true});
  fields.push_back({"crop_pct", format_number(data.get_float("crop_pct"), 3), true});
  fields.push_back({"interpolation", data.get_string("interpolation"), false});
  fields.push_back({"samples", std::to_string(loader->samples_per_epoch()), true});
  fields.push_back({"images_per_second",
                    format_number(loader->samples_per_epoch() / std::max(seconds, 1e-9), 1), true});
  fields.push_back({"checkpoint", checkpoint_path, false});
  fields.push_back({"ema", use_ema ? "true" : "false", true});

  for (const auto& f : fields) std::cout << f.name << ": " << f.text << "\n";
  std::cout.flush();
  if (!eval.results_file.empty()) write_results(eval.results_file, {fields}, /*as_table=*/false);
  return kExitOk;
}

}  // namespace vitrine::cli
