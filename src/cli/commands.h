// The `vitrine` subcommands. Each returns the process exit code; errors are thrown
// (ConfigError/UsageError -> 2, anything else -> 1) and reported by main.
#pragma once

#include <string>
#include <vector>

#include "cli/hydra_flags.h"
#include "core/error.h"

namespace vitrine::cli {

int run_config(const HydraFlags& flags);
int run_train(const HydraFlags& flags);

struct EvalOptions {
  std::string checkpoint;        // also accepted as a checkpoint=PATH argument
  bool use_ema = false;          // evaluate the EMA weights (timm's --use-ema)
  std::string results_file;      // .json or .csv
  std::string save_images;       // super-resolution: write the SR outputs under this folder
  std::string save_detections;   // detection: write the COCO results JSON (bbox entries)
  std::string save_predictions;  // segmentation: write label-map PNGs (mmseg's format_only)
  // Score an existing COCO results file against an annotation file (no model, no checkpoint).
  std::string coco_results, coco_annotations;
};
int run_eval(const HydraFlags& flags, const EvalOptions& options);
// `vitrine models [filter] [--markdown]`: the zoo with parameters and FLOPs against the papers.
int run_models(const std::string& filter, bool markdown = false);
// `vitrine export key=value...` (checkpoint, model, part, format, input, out, portable, use_ema).
int run_export(const std::vector<std::string>& arguments);

// `vitrine bench model`, after timm's benchmark.py: synthetic inputs, warm-up, then timed
// steps of inference (eval mode, no autograd) and/or training (forward, cross-entropy on random
// labels, backward, SGD step).
struct ModelBenchOptions {
  std::string model = "all";  // a registered name, a family, or "all"
  int64_t batch = 32;
  int64_t img_size = 0;           // 0: the model's own size
  std::string mode = "both";      // infer | train | both
  std::string dtype = "float32";  // float32 | float64 | bfloat16
  std::string device = "cpu";     // cpu | cuda
  std::string amp = "none";       // none | bf16 | fp16: autocast around forward and backward
  bool channels_last = false;     // 4-D parameters and inputs in NHWC memory order
  int warmup = 3;
  int iters = 10;
  std::string results_file;  // .csv or .json
};
int run_bench_model(const ModelBenchOptions& options);
// `vitrine bench loader [overrides] [--batches N]`: the training loader's own images/s.
struct LoaderBenchOptions {
  int batches = 50;  // timed batches
  int warmup = 5;    // untimed batches first (the workers fill their queues)
  std::string results_file;
};
int run_bench_loader(const HydraFlags& flags, const LoaderBenchOptions& options);
// For subcommands whose issue has not landed yet: says so plainly and fails.
// `vitrine launch [--nproc N] [--nnodes M --node-rank R] [--master-addr A] [--master-port P]
// -- <vitrine command>`: the local ranks of a distributed run.
struct LaunchOptions {
  int nproc = 1, nnodes = 1, node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;  // 0: a free port (one node) or 29500
};
int run_launch(const LaunchOptions& options, const std::vector<std::string>& command);

}  // namespace vitrine::cli
