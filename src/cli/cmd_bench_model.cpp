// `vitrine bench model`: throughput of zoo models on synthetic inputs, as timm's
// benchmark.py measures it (warm-up steps, then timed steps; samples/s = batch * steps /
// seconds), with parameter count and GMACs (our FLOPs count one multiply-add as one FLOP).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/results_file.h"
#include "config/node.h"
#include "config/view.h"
#include "core/error.h"
#include "models/registry.h"
#include "train/autocast_scope.h"
#include "train/memory_format.h"

namespace vitrine::cli {
namespace {

at::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32") return at::kFloat;
  if (name == "float64") return at::kDouble;
  if (name == "bfloat16") return at::kBFloat16;
  throw UsageError("--dtype must be float32, float64 or bfloat16, got '" + name + "'");
}

std::vector<const models::ModelEntry*> select_models(const std::string& which) {
  const auto& registry = models::ModelRegistry::builtin();
  std::vector<const models::ModelEntry*> out;
  for (const auto& e : registry.entries())
    if (which == "all" || e.name == which || e.family == which) out.push_back(&e);
  if (out.empty()) registry.get(which);  // throws ConfigError naming it, with a suggestion
  return out;
}

// Builds the model for `img_size`: models built for one size take it as a key; the others
// run at any size and reject the key.
models::ModelPtr build(const models::ModelEntry& entry, int64_t img_size) {
  config::Node node = config::Node::dict();
  node.set("name", entry.name);
  if (img_size != entry.img_size) {
    config::Node sized = node;
    sized.set("img_size", img_size);
    try {
      return entry.create(config::ConfigView(sized, "model"));
    } catch (const ConfigError&) {
      // not a sized model: fall through
    }
  }
  return entry.create(config::ConfigView(node, "model"));
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Runs `step` warmup times untimed, then `iters` times; returns seconds per step.
template <typename Step>
double time_steps(Step&& step, int warmup, int iters, const at::Device& device) {
  auto sync = [&] {
    if (device.is_cuda()) at::empty({1}, at::TensorOptions(device)).cpu();  // waits for the stream
  };
  for (int i = 0; i < warmup; ++i) step();
  sync();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) step();
  sync();
  return seconds_since(start) / iters;
}

}  // namespace

int run_bench_model(const ModelBenchOptions& o) {
  if (o.mode != "infer" && o.mode != "train" && o.mode != "both")
    throw UsageError("--mode must be infer, train or both, got '" + o.mode + "'");
  if (o.batch < 1 || o.iters < 1 || o.warmup < 0)
    throw UsageError("--batch and --iters must be positive and --warmup non-negative");
  const at::ScalarType dtype = parse_dtype(o.dtype);
  if (o.device != "cpu" && o.device != "cuda")
    throw UsageError("--device must be cpu or cuda, got '" + o.device + "'");
  if (o.device == "cuda" && !at::hasCUDA())
    throw UsageError("--device cuda: no CUDA device is visible (or this libtorch has no CUDA)");
  const at::Device device(o.device == "cuda" ? at::kCUDA : at::kCPU);
  if (o.amp != "none" && o.amp != "bf16" && o.amp != "fp16")
    throw UsageError("--amp must be none, bf16 or fp16, got '" + o.amp + "'");
  if (o.amp == "fp16" && o.device != "cuda")
    throw UsageError("--amp fp16 needs --device cuda (CPU autocast supports bf16 only)");
  if (o.amp != "none" && dtype != at::kFloat)
    throw UsageError("--amp autocasts a float32 model: use it with --dtype float32, not " +
                     o.dtype);
  const std::string amp = o.amp == "none" ? "" : o.amp;  // AutocastScope's spelling
  const std::vector<const models::ModelEntry*> selected = select_models(o.model);

  std::printf("vitrine bench model: %s, %s, amp %s, %s, batch %lld, %d threads, %u cores\n",
              o.device.c_str(), o.dtype.c_str(), o.amp.c_str(),
              o.channels_last ? "channels-last" : "contiguous", static_cast<long long>(o.batch),
              at::get_num_threads(), std::thread::hardware_concurrency());
  std::printf("%-24s %6s %5s %12s %8s %14s %12s\n", "model", "mode", "img", "params", "GMACs",
              "samples/s", "step ms");
  std::vector<ResultRow> rows;
  int failures = 0;
  for (const models::ModelEntry* entry : selected) {
    const int64_t img = o.img_size > 0 ? o.img_size : entry->img_size;
    std::vector<std::string> modes;
    if (o.mode != "train") modes.push_back("infer");
    if (o.mode != "infer") modes.push_back("train");
    for (const std::string& mode : modes) {
      try {
        models::ModelPtr model = build(*entry, img);
        model->to(device, dtype);
        if (o.channels_last) train::to_channels_last(*model);
        const int64_t params = models::count_parameters(*model);
        const double gmacs = model->flops(img) / 1e9;
        at::Tensor images =
            at::randn({o.batch, entry->in_chans, img, img}, at::TensorOptions(device).dtype(dtype));
        if (o.channels_last) images = train::channels_last_images(images);
        double step_s = 0;
        if (mode == "infer") {
          model->eval();
          c10::InferenceMode guard;
          step_s = time_steps(
              [&] {
                train::AutocastScope autocast(amp, device);
                model->forward(images);
              },
              o.warmup, o.iters, device);
        } else {
          model->train();
          // Classifiers (2-D logits): cross-entropy on random labels; others (super-resolution,
          // detection, segmentation): L1 to a random target of the output's shape.
          at::Tensor target;
          {
            c10::InferenceMode shape_only;
            train::AutocastScope autocast(amp, device);
            target = at::rand_like(model->forward(images));
          }
          const bool classifier = target.dim() == 2 && entry->num_classes > 0;
          const at::Tensor labels = classifier
                                        ? at::randint(entry->num_classes, {o.batch},
                                                      at::TensorOptions(device).dtype(at::kLong))
                                        : at::Tensor();
          std::vector<at::Tensor> parameters = model->parameters();
          step_s = time_steps(
              [&] {
                for (auto& p : parameters) p.mutable_grad() = at::Tensor();
                at::Tensor loss;
                {
                  // Forward and loss under autocast, backward outside it (torch.autocast's
                  // recipe; fp16 would add loss scaling, which costs nothing measurable).
                  train::AutocastScope autocast(amp, device);
                  const at::Tensor out = model->forward(images).to(at::kFloat);
                  loss = classifier ? at::cross_entropy_loss(out, labels)
                                    : (out - target.to(at::kFloat)).abs().mean();
                }
                loss.backward();
                at::NoGradGuard no_grad;
                for (auto& p : parameters)
                  if (p.grad().defined()) p.add_(p.grad(), -1e-4);
              },
              o.warmup, o.iters, device);
        }
        const double rate = static_cast<double>(o.batch) / step_s;
        std::printf("%-24s %6s %5lld %12lld %8.2f %14.2f %12.1f\n", entry->name.c_str(),
                    mode.c_str(), static_cast<long long>(img), static_cast<long long>(params),
                    gmacs, rate, step_s * 1e3);
        std::fflush(stdout);
        rows.push_back({{"model", entry->name, false},
                        {"mode", mode, false},
                        {"batch_size", std::to_string(o.batch), true},
                        {"img_size", std::to_string(img), true},
                        {"param_count", format_number(params / 1e6, 2), true},
                        {"gmacs", format_number(gmacs, 2), true},
                        {"samples_per_sec", format_number(rate, 2), true},
                        {"step_time_ms", format_number(step_s * 1e3, 2), true},
                        {"dtype", o.dtype, false},
                        {"amp", o.amp, false},
                        {"memory_format", o.channels_last ? "channels_last" : "contiguous", false},
                        {"device", o.device, false},
                        {"threads", std::to_string(at::get_num_threads()), true}});
      } catch (const std::exception& e) {
        // One model failing (a size it cannot take, no memory) does not stop a sweep.
        ++failures;
        std::string what = e.what();
        if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e))
          what = c10_error->what_without_backtrace();
        std::printf("%-24s %6s  skipped: %s\n", entry->name.c_str(), mode.c_str(),
                    what.substr(0, what.find('\n')).c_str());
      }
    }
  }
  if (!o.results_file.empty()) write_results(o.results_file, rows, /*as_table=*/true);
  return failures == 0 ? kExitOk : kExitRuntimeFailure;
}

}  // namespace vitrine::cli
