// `vitrine`: one binary for training, evaluation, export and benchmarking.
#include <c10/util/Exception.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "bench/na_ops_bench.h"
#include "bench/ops_bench_options.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/runtime.h"
#include "core/stop_request.h"
#include "data/dataset.h"

namespace {

int dispatch(int argc, char** argv) {
  using namespace vitrine::cli;
  CLI::App app{"Vitrine: train local- and hierarchical-attention vision transformers", "vitrine"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "vitrine 0.1.0");
  int threads = 0;
  app.add_option("--threads", threads, "Intra-op threads (0 = every core)")->capture_default_str();

  HydraFlags train_flags, eval_flags, config_flags;
  train_flags.request.job_name = "train";
  eval_flags.request.job_name = "eval";
  config_flags.request.job_name = "config";

  auto* train = app.add_subcommand("train", "Train a model from the composed config");
  add_hydra_flags(*train, train_flags);
  auto* eval = app.add_subcommand("eval", "Evaluate a checkpoint");
  add_hydra_flags(*eval, eval_flags);
  EvalOptions eval_options;
  eval->add_option("--checkpoint", eval_options.checkpoint,
                   "Checkpoint to evaluate (or checkpoint=PATH)");
  eval->add_flag("--use-ema", eval_options.use_ema, "Evaluate the EMA weights");
  eval->add_option("--save-images", eval_options.save_images,
                   "Super-resolution: write each SR output as PNG under this folder");
  eval->add_option("--save-detections", eval_options.save_detections,
                   "Detection: write the detections as a COCO results JSON");
  eval->add_option("--save-predictions", eval_options.save_predictions,
                   "Segmentation: write each predicted label map as PNG under this folder");
  eval->add_option("--coco-results", eval_options.coco_results,
                   "Score this COCO results JSON (bbox) against --coco-annotations; no model");
  eval->add_option("--coco-annotations", eval_options.coco_annotations,
                   "The COCO annotation file (instances_*.json) --coco-results is scored against");
  eval->add_option("--results-file", eval_options.results_file,
                   "Write the results as JSON (.json) or CSV (.csv)");
  auto* exporter = app.add_subcommand(
      "export",
      "Export a model to TorchScript: checkpoint=PATH (or model=NAME) [part=full|backbone] "
      "[input=1,3,224,224] [out=model.pt] [portable=true] [use_ema=true]");
  exporter->allow_extras();
  auto* launch = app.add_subcommand(
      "launch", "Start the local ranks of a distributed run: launch --nproc N -- train ...");
  LaunchOptions launch_options;
  launch->add_option("--nproc", launch_options.nproc, "Ranks on this node");
  launch->add_option("--nnodes", launch_options.nnodes, "Nodes");
  launch->add_option("--node-rank", launch_options.node_rank, "This node's index");
  launch->add_option("--master-addr", launch_options.master_addr, "Rank 0's host");
  launch->add_option("--master-port", launch_options.master_port,
                     "Rank 0's port (default: a free one on one node, else 29500)");
  std::vector<std::string> launch_command;
  launch->add_option("command", launch_command, "The vitrine command each rank runs (after --)");
  auto* bench = app.add_subcommand("bench", "Benchmark ops and models");
  bench->require_subcommand(1);
  vitrine::bench::OpsBenchOptions ops_options;
  auto* bench_ops = bench->add_subcommand(
      "ops", "Neighborhood-attention ops vs stock-libtorch and full-attention baselines");
  vitrine::bench::add_bench_ops_options(*bench_ops, ops_options);
  ModelBenchOptions model_bench;
  auto* bench_model = bench->add_subcommand(
      "model", "Model throughput on synthetic inputs (timm benchmark.py style)");
  bench_model->add_option("model,--model", model_bench.model, "Model name, family, or all")
      ->capture_default_str();
  bench_model->add_option("--batch", model_bench.batch, "Batch size")->capture_default_str();
  bench_model->add_option("--img-size", model_bench.img_size, "Image side (0: the model's own)")
      ->capture_default_str();
  bench_model->add_option("--mode", model_bench.mode, "infer, train or both")
      ->capture_default_str();
  bench_model->add_option("--dtype", model_bench.dtype, "float32, float64 or bfloat16")
      ->capture_default_str();
  bench_model->add_option("--device", model_bench.device, "cpu or cuda")->capture_default_str();
  bench_model
      ->add_option("--amp", model_bench.amp,
                   "Autocast: none, bf16 (CPU or CUDA) or fp16 (CUDA), as trainer.amp")
      ->capture_default_str();
  bench_model->add_flag("--channels-last", model_bench.channels_last,
                        "Parameters and inputs in channels-last (NHWC) memory order");
  bench_model->add_option("--warmup", model_bench.warmup, "Untimed steps")->capture_default_str();
  bench_model->add_option("--iters", model_bench.iters, "Timed steps")->capture_default_str();
  bench_model->add_option("--results-file", model_bench.results_file,
                          "Write the rows as CSV (.csv) or JSON (.json)");
  HydraFlags loader_flags;
  loader_flags.request.job_name = "train";
  LoaderBenchOptions loader_bench;
  auto* bench_loader = bench->add_subcommand(
      "loader", "The training data loader alone: decode, augment, collate; images/s");
  add_hydra_flags(*bench_loader, loader_flags);
  bench_loader->add_option("--batches", loader_bench.batches, "Timed batches")
      ->capture_default_str();
  bench_loader->add_option("--warmup", loader_bench.warmup, "Untimed batches first")
      ->capture_default_str();
  bench_loader->add_option("--results-file", loader_bench.results_file,
                           "Write the row as CSV (.csv) or JSON (.json)");
  auto* models = app.add_subcommand("models", "List registered models with params and FLOPs");
  std::string model_filter;
  models->add_option("filter", model_filter, "Show only names or families containing this");
  bool models_markdown = false;
  models->add_flag("--markdown", models_markdown,
                   "Print a Markdown table (the one docs/zoo.md holds)");
  auto* config = app.add_subcommand("config", "Print the composed config (overrides applied)");
  add_hydra_flags(*config, config_flags);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help/version or the usage error
    return code == 0 ? vitrine::kExitOk : vitrine::kExitUsage;
  }

  vitrine::configure_runtime(threads);
  if (train->parsed()) return run_train(train_flags);
  if (eval->parsed()) return run_eval(eval_flags, eval_options);
  if (exporter->parsed()) return run_export(exporter->remaining());
  if (launch->parsed()) return run_launch(launch_options, launch_command);
  if (bench_ops->parsed()) return vitrine::bench::run_ops_bench(ops_options);
  if (bench_model->parsed()) return run_bench_model(model_bench);
  if (bench_loader->parsed()) return run_bench_loader(loader_flags, loader_bench);
  if (models->parsed()) return run_models(model_filter, models_markdown);
  if (config->parsed()) return run_config(config_flags);
  return vitrine::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return dispatch(argc, argv);
  } catch (const vitrine::StopRequested& e) {
    std::cerr << "Stopped: " << e.what() << std::endl;
    return e.exit_code();
  } catch (const vitrine::data::MissingDataError& e) {
    std::cerr << "Error: " << e.what() << std::endl;  // the config names data that is not there
    return vitrine::kExitUsage;
  } catch (const vitrine::ConfigError& e) {
    std::cerr << "Error: " << e.what() << std::endl;
    return vitrine::kExitUsage;
  } catch (const vitrine::UsageError& e) {
    std::cerr << "Error: " << e.what() << std::endl;
    return vitrine::kExitUsage;
  } catch (const c10::Error& e) {
    // Shape and argument checks inside ops: the message, without libtorch's backtrace.
    std::cerr << "Error: " << e.what_without_backtrace() << std::endl;
    return vitrine::kExitRuntimeFailure;
  } catch (const std::exception& e) {
    std::cerr << "Error: " << e.what() << std::endl;
    return vitrine::kExitRuntimeFailure;
  }
}
