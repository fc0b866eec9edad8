// `vitrine export`: a trained model (or a registered one with fresh weights) to a TorchScript
// file, checked against the eager model on the example input and on another batch size.
#include <ATen/ATen.h>
#include <torch/csrc/jit/serialization/import.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include "cli/commands.h"
#include "config/view.h"
#include "core/error.h"
#include "export/torchscript_export.h"
#include "models/registry.h"
#include "train/trained_model.h"

namespace vitrine::cli {
namespace {

std::vector<int64_t> parse_input(const std::string& text) {
  std::vector<int64_t> dims;
  std::stringstream s(text);
  std::string part;
  while (std::getline(s, part, ',')) {
    try {
      size_t used = 0;
      dims.push_back(std::stoll(part, &used));
      if (used != part.size()) throw std::invalid_argument(part);
    } catch (const std::exception&) {
      throw UsageError("input=" + text + ": expected B,C,H,W (e.g. input=1,3,224,224)");
    }
  }
  if (dims.size() != 4) throw UsageError("input=" + text + ": expected four sizes B,C,H,W");
  return dims;
}

bool parse_bool(const std::string& key, const std::string& value) {
  if (value == "true" || value == "1") return true;
  if (value == "false" || value == "0") return false;
  throw UsageError(key + "=" + value + ": expected true or false");
}

std::string shape_text(const std::vector<at::Tensor>& outputs) {
  std::string s;
  for (const at::Tensor& t : outputs) {
    s += s.empty() ? "[" : ", [";
    for (int64_t d = 0; d < t.dim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
    s += "]";
  }
  return s;
}

}  // namespace

int run_export(const std::vector<std::string>& arguments) {
  std::map<std::string, std::string> args;
  const std::vector<std::string> known{"checkpoint",
                                       "model",
                                       "model.pretrained",
                                       "model.pretrained_strict",
                                       "part",
                                       "format",
                                       "input",
                                       "out",
                                       "portable",
                                       "use_ema"};
  for (const std::string& a : arguments) {
    const size_t eq = a.find('=');
    if (eq == std::string::npos)
      throw UsageError("vitrine export takes key=value arguments, got '" + a + "'");
    const std::string key = a.substr(0, eq);
    if (std::find(known.begin(), known.end(), key) == known.end())
      throw UsageError("vitrine export: unknown argument '" + key +
                       "' (checkpoint, model, model.pretrained, model.pretrained_strict, part, "
                       "format, input, out, portable, use_ema)");
    args[key] = a.substr(eq + 1);
  }
  const std::string format = args.count("format") ? args["format"] : "torchscript";
  if (format != "torchscript")
    throw UsageError("format=" + format + ": only torchscript is supported");
  const std::string part = args.count("part") ? args["part"] : "full";
  if (part != "full" && part != "backbone")
    throw UsageError("part=" + part + ": expected full or backbone");
  if (!args.count("checkpoint") && !args.count("model"))
    throw UsageError(
        "vitrine export needs checkpoint=PATH (a vitrine train checkpoint), or model=NAME with "
        "model.pretrained=PATH (a state dict: official or timm weights) or without (fresh "
        "weights)");
  if (args.count("checkpoint") && args.count("model.pretrained"))
    throw UsageError(
        "vitrine export: checkpoint= and model.pretrained= both name weights; give one");

  // The model: the checkpoint's own (its arch must match model= when both are given), or a
  // registered one with fresh weights.
  models::ModelPtr model;
  config::Node model_node = config::Node::dict();
  at::manual_seed(0);  // fresh weights, and the check's random inputs, are the same every time
  if (args.count("checkpoint")) {
    train::TrainedModelRequest request;
    request.checkpoint = args["checkpoint"];
    request.expected_arch = args.count("model") ? args["model"] : "";
    request.use_ema = args.count("use_ema") && parse_bool("use_ema", args["use_ema"]);
    train::TrainedModel trained = train::load_trained_model(request);
    model = trained.model;
    model_node = trained.model_config;
  } else {
    // A registered model with a state dict loaded by name (the registry's `pretrained`), or
    // with fresh weights.
    model_node.set("name", config::Node(args["model"]));
    const bool pretrained = args.count("model.pretrained") > 0;
    model_node.set("pretrained",
                   pretrained ? config::Node(args["model.pretrained"]) : config::Node());
    if (args.count("model.pretrained_strict"))
      model_node.set(
          "pretrained_strict",
          config::Node(parse_bool("model.pretrained_strict", args["model.pretrained_strict"])));
    model = models::ModelRegistry::builtin().create(config::ConfigView(model_node, "model"));
    if (!pretrained)
      std::cerr << "warning: no checkpoint: exporting " << args["model"] << " with fresh weights\n";
  }
  const std::string name = model_node.find("name")->as_string();
  const models::ModelEntry& entry = models::ModelRegistry::builtin().get(name);

  exporter::ExportOptions options;
  options.backbone = part == "backbone";
  options.portable = args.count("portable") && parse_bool("portable", args["portable"]);
  const config::Node* chans = model_node.find("in_chans");
  const int64_t in_chans = chans && chans->is_int() ? chans->as_int() : entry.in_chans;
  const config::Node* size = model_node.find("img_size");
  const int64_t img = size && size->is_int() ? size->as_int() : entry.img_size;
  options.input = args.count("input") ? parse_input(args["input"])
                                      : std::vector<int64_t>{1, in_chans, img, img};
  const std::string out = args.count("out") ? args["out"] : name + ".pt";

  torch::jit::Module module = exporter::export_torchscript(*model, name, options);
  module.save(out);

  // Check the saved file, loaded back, against the eager model at two batch sizes.
  torch::jit::Module loaded = torch::jit::load(out);
  const int64_t b1 = options.input[0], b2 = b1 == 1 ? 2 : 1;
  std::printf("exported %s (%s, %s) to %s: input %lldx%lldx%lldx%lld (any batch)\n", name.c_str(),
              part.c_str(), options.portable ? "portable, stock ops only" : "vitrine custom ops",
              out.c_str(), static_cast<long long>(b1), static_cast<long long>(options.input[1]),
              static_cast<long long>(options.input[2]), static_cast<long long>(options.input[3]));
  double worst_relative = 0;
  for (int64_t batch : {b1, b2}) {
    const at::Tensor images =
        at::randn({batch, options.input[1], options.input[2], options.input[3]});
    const auto want = exporter::eager_outputs(*model, images, options.backbone);
    const auto got = exporter::exported_outputs(loaded, images);
    const double diff = exporter::max_abs_difference(want, got);
    double scale = 1;
    for (const at::Tensor& t : want) scale = std::max(scale, t.abs().max().item<double>());
    worst_relative = std::max(worst_relative, diff / scale);
    std::printf("check at batch %lld: outputs %s, max |exported - eager| = %.3g\n",
                static_cast<long long>(batch), shape_text(got).c_str(), diff);
  }
  const double tolerance = options.portable ? 1e-4 : 1e-5;
  if (!(worst_relative <= tolerance)) {
    std::fprintf(stderr,
                 "error: the exported module differs from the model by %.3g (relative), over "
                 "the %.0e tolerance%s\n",
                 worst_relative, tolerance,
                 model->updates_state_in_forward()
                     ? " (this model sets state from its training batches - CATANet's token "
                       "centres - and an untrained one takes it from each input: export a "
                       "trained checkpoint)"
                     : "");
    return kExitRuntimeFailure;
  }
  if (!options.portable)
    std::printf(
        "consumers load libvitrine_ops.so first (C++: dlopen or link it; Python: "
        "torch.ops.load_library), or export with portable=true\n");
  return kExitOk;
}

}  // namespace vitrine::cli
