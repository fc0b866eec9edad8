#include "train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/nn/utils/clip_grad.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <mutex>

#include "config/view.h"
#include "config/yaml_io.h"
#include "core/error.h"
#include "core/runtime.h"
#include "core/stop_request.h"
#include "core/text.h"
#include "data/loader_factory.h"
#include "layers/layer_random.h"
#include "layers/sync_batch_norm.h"
#include "models/checkpoint/state_dict.h"
#include "models/registry.h"
#include "train/autocast_scope.h"
#include "train/batch_split.h"
#include "train/checkpoint.h"
#include "train/checkpoint_keeper.h"
#include "train/classification_task.h"
#include "train/distributed.h"
#include "train/ema.h"
#include "train/grad_scaler.h"
#include "train/lr_schedule.h"
#include "train/memory_format.h"
#include "train/optimizer.h"
#include "train/progress.h"
#include "train/task_factory.h"
#include "train/trainer_settings.h"

namespace vitrine::train {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double metric_value(const MetricList& metrics, const std::string& name) {
  for (const auto& [key, value] : metrics)
    if (key == name) return value;
  throw std::runtime_error("evaluation did not report metric '" + name + "'");
}

}  // namespace

struct Trainer::State {
  config::Node config;
  std::string output_dir;
  uint64_t seed = 0;
  at::Device device = at::kCPU;
  int threads = 0;  // intra-op threads (0: every core), shared by the batch slices

  TrainerSettings settings;                 // trainer.*
  std::unique_ptr<BatchSplit> batch_split;  // set when trainer.batch_split > 1
  DistributedOptions dist_options;          // dist.* and torchrun's environment
  std::unique_ptr<Distributed> dist;        // set when the run has more than one rank
  bool is_main() const { return !dist || dist->is_main(); }
  double world_size_of() const { return dist ? dist->world_size() : 1; }
  bool broadcast_buffers = false;  // dist.broadcast_buffers in a distributed run
  // dist.sync_batchnorm: batch-norm statistics summed over the ranks while this lives.
  std::unique_ptr<layers::SyncBatchNormScope> sync_batch_norm;

  std::string model_name;
  models::ModelPtr model;
  std::unique_ptr<ModelEma> ema;
  std::unique_ptr<Task> task;
  std::unique_ptr<data::DataLoader> train_loader, eval_loader;
  std::unique_ptr<Optimizer> optimizer;
  std::unique_ptr<LrSchedule> schedule;
  GradScaler scaler{false};
  RunProgress progress;
  std::mutex skip_mutex;
  int64_t skipped_samples = 0;

  // Set-up, in order: processes (threads, batch slices, ranks), data, task, model, optimiser.
  void build();
  void start_processes(const config::ConfigView& root);
  void build_data(const config::ConfigView& data);
  void build_task(const config::ConfigView& root);
  void build_model(const config::ConfigView& model_view);
  void build_optimisation(const config::ConfigView& root);

  // trainer.resume: `auto` (rank 0's last.pt, when there is one) or a checkpoint path.
  void resume_if_asked();
  void restore(const std::string& path);
  MetricList train_one_epoch(int64_t epoch, Progress& bar, RunLog& log, double& images_per_second);
  // Forward and backward of one batch (on this thread, or split over threads); returns the
  // batch's mean loss.
  // `reduce`: this backward ends an accumulation group, so a distributed run's gradient
  // reducer (when attached) all-reduces the gradients while it runs.
  double forward_backward(const TrainingBatch& batch, int64_t epoch, int64_t b, int64_t group_size,
                          bool reduce);
  // A distributed run's step before each training forward: rank 0's buffers to every rank.
  void sync_before_forward();
  double split_forward_backward(const TrainingBatch& batch, int64_t epoch, int64_t b,
                                int64_t group_size);
  void check_finite(double loss_value, int64_t epoch, int64_t b) const;
  // The evaluation after `epoch`, its progress on `bar`.
  MetricList evaluate(Progress& bar, int64_t epoch);
  void save_checkpoints(int64_t epoch);
  // The final weights' parameter sum; in a distributed run, checked equal on every rank.
  double verify_final_weights() const;
  // Ends the run on a stop request, saying where it stopped and how to go on.
  [[noreturn]] void stop(int signal, int64_t epoch, int64_t batch, int64_t batches) const;
};

Trainer::Trainer(const config::Node& config, std::string output_dir)
    : state_(std::make_unique<State>()) {
  state_->config = config;
  state_->output_dir = std::move(output_dir);
  state_->build();
}

Trainer::~Trainer() = default;

void Trainer::State::build() {
  const config::ConfigView root(config, "");
  root.expect_keys(
      {"model", "data", "task", "optim", "sched", "trainer", "seed", "threads", "device", "dist"});
  seed = static_cast<uint64_t>(root.get_int("seed"));
  device = parse_device(root.get_string("device"));
  threads = static_cast<int>(root.get_int("threads"));
  at::manual_seed(seed);
  settings = read_trainer_settings(root.child("trainer"), device);
  scaler = GradScaler(settings.amp == "fp16");

  start_processes(root);
  build_data(root.child("data"));
  build_task(root);
  build_model(root.child("model"));
  build_optimisation(root);
}

void Trainer::State::start_processes(const config::ConfigView& root) {
  const int64_t split_parts = settings.batch_split;
  if (split_parts > 1) batch_split = std::make_unique<BatchSplit>(static_cast<int>(split_parts));
  // threads: 0 means every core, shared among the slices rather than taken by each.
  configure_runtime(threads, static_cast<int>(split_parts));

  // Processes: one, or the ranks of a distributed run (torchrun's environment or dist.*).
  dist_options = distributed_options(
      root.has("dist") ? root.child("dist") : config::ConfigView(config::Node::dict(), "dist"));
  if (dist_options.world_size <= 1) return;
  if (!device.is_cpu())
    throw ConfigError("distributed training runs on Gloo over CPU tensors here; device=" +
                      device.str() + " needs NCCL, which this build does not use yet");
  dist = std::make_unique<Distributed>(dist_options);
  if (dist_options.sync_batchnorm) {
    if (split_parts > 1)
      throw ConfigError(
          "dist.sync_batchnorm=true needs trainer.batch_split=1: the slices of a split batch "
          "run on threads concurrently, and their statistics' all-reduces would interleave "
          "differently on each rank");
    Distributed* ranks = dist.get();
    sync_batch_norm = std::make_unique<layers::SyncBatchNormScope>(
        [ranks](at::Tensor& t) { ranks->all_reduce_sum(t); });
  }
}

void Trainer::State::build_data(const config::ConfigView& data_view) {
  const int rank = dist ? dist->rank() : 0, world = dist ? dist->world_size() : 1;
  // On a GPU the loader's threads pin the training batches, so their copies overlap compute.
  train_loader = data::make_loader(data_view, true, seed, rank, world, device.is_cuda());
  // Evaluation is sharded too (every sample once over the ranks); the task sums the shards.
  eval_loader = data::make_loader(data_view, false, seed, rank, world);
  const auto train_classes = train_loader->source().classes();
  const auto eval_classes = eval_loader->source().classes();
  if (!train_classes.empty() && !eval_classes.empty() && train_classes != eval_classes)
    throw data::DataError("the training and evaluation splits have different classes (" +
                          std::to_string(train_classes.size()) + " vs " +
                          std::to_string(eval_classes.size()) + "); their labels would not agree");
  auto report_skip = [this](const std::string& message) {
    std::lock_guard<std::mutex> lock(skip_mutex);
    ++skipped_samples;
    std::cerr << "warning: skipped unreadable sample " << message << std::endl;
  };
  train_loader->on_skip(report_skip);
  eval_loader->on_skip(report_skip);
}

void Trainer::State::build_task(const config::ConfigView& root) {
  task = make_task(root);
  const int64_t batch_size = root.child("data").get_int("batch_size");
  if (const auto* classification = dynamic_cast<const ClassificationTask*>(task.get()))
    if (classification->mixup().enabled() && batch_size % 2 != 0)
      throw ConfigError("mixup/cutmix need an even data.batch_size, got " +
                        std::to_string(batch_size));
  if (dist) {
    Distributed* ranks = dist.get();
    task->set_rank_group({dist->rank(), dist->world_size(),
                          [ranks](const std::vector<double>& v) { return ranks->sum(v); }});
  }
}

void Trainer::State::build_model(const config::ConfigView& model_view) {
  model_name = model_view.get_string("name");
  model = models::ModelRegistry::builtin().create(model_view);
  if (batch_split && model->updates_state_in_forward()) {
    // The default trainer splits batches over the cores; such a model cannot be split, so it
    // runs whole batches (with every core) instead.
    std::cerr << "warning: trainer.batch_split=" << batch_split->parts()
              << " ignored: " << model_name
              << " updates its state from each training batch inside forward (token centres), "
                 "so its batches cannot be split across threads; running whole batches"
              << std::endl;
    batch_split.reset();
    configure_runtime(threads, 1);
  }
  model->to(device);
  if (settings.channels_last) to_channels_last(*model);
  if (device.is_cuda()) at::globalContext().setBenchmarkCuDNN(settings.cudnn_benchmark);
  // Every rank starts from rank 0's weights and buffers (DDP's broadcast).
  if (dist) {
    std::vector<at::Tensor> state = model->parameters();
    for (const at::Tensor& b : model->buffers()) state.push_back(b);
    at::NoGradGuard no_grad;
    dist->broadcast(state);
    broadcast_buffers = dist_options.broadcast_buffers;
    if (dist_options.overlap && batch_split) {
      // Split batches run several backwards into the same gradients, while the reducer's
      // hooks expect one per step: reduce after backward instead.
      std::cerr << "warning: trainer.batch_split=" << batch_split->parts()
                << " runs several backward passes per batch; gradients are all-reduced after "
                   "backward (set trainer.batch_split=1 for dist.overlap)"
                << std::endl;
    } else if (dist_options.overlap) {
      std::vector<at::Tensor> trainable;
      for (const at::Tensor& p : model->parameters())
        if (p.requires_grad()) trainable.push_back(p);
      dist->attach_reducer(trainable);
    }
  }
  if (settings.ema.enabled) {
    models::ModelPtr shadow = models::ModelRegistry::builtin().create(model_view);
    shadow->to(device);
    ema = std::make_unique<ModelEma>(shadow, *model, settings.ema.decay, settings.ema.warmup);
  }
}

void Trainer::State::build_optimisation(const config::ConfigView& root) {
  const int64_t world = dist ? dist->world_size() : 1;
  const int64_t global_batch =
      root.child("data").get_int("batch_size") * world * settings.accum_steps;
  optimizer =
      make_optimizer(root.child("optim"), *model, model->no_weight_decay_keywords(), global_batch);
  if (batch_split)
    optimizer->update_in_parts(
        [split = batch_split.get()](const std::vector<int64_t>& weights,
                                    const std::function<void(size_t, size_t)>& task) {
          split->run_balanced(weights, task);
        });
  int64_t batches = train_loader->batches_per_epoch();
  if (settings.limit_train_batches) batches = std::min(batches, *settings.limit_train_batches);
  const int64_t updates_per_epoch = (batches + settings.accum_steps - 1) / settings.accum_steps;
  schedule = std::make_unique<LrSchedule>(root.child("sched"), optimizer->lr(), settings.epochs,
                                          updates_per_epoch);
}

void Trainer::State::restore(const std::string& path) {
  CheckpointContents c = read_checkpoint(path);
  if (!c.arch.empty() && c.arch != model_name)
    throw ConfigError("cannot resume from '" + path + "': it was written for model '" + c.arch +
                      "', this run builds '" + model_name + "'");
  models::checkpoint::load_state_dict(*model, c.model, true, path);
  optimizer->load_state(c.optimizer);
  if (ema) {
    if (!c.ema)
      throw ConfigError("cannot resume from '" + path +
                        "': the run has EMA on but the checkpoint holds no EMA weights");
    models::checkpoint::load_state_dict(ema->module(), *c.ema, true, path + " (EMA)");
    ema->set_updates(c.progress.ema_updates);
  }
  set_torch_rng_state(c.rng_state);
  progress = c.progress;
  std::cout << "resumed from " << path << " after epoch " << progress.epoch << " (step "
            << progress.global_step << ")" << std::endl;
}

void Trainer::State::check_finite(double loss_value, int64_t epoch, int64_t b) const {
  if (!std::isfinite(loss_value))
    throw std::runtime_error("training loss is " + std::to_string(loss_value) + " at epoch " +
                             std::to_string(epoch + 1) + ", batch " + std::to_string(b + 1) +
                             " (lower optim.lr, or set trainer.clip_grad)");
}

void Trainer::State::sync_before_forward() {
  if (!broadcast_buffers) return;  // set only in a distributed run
  at::NoGradGuard no_grad;
  dist->broadcast(model->buffers());
}

double Trainer::State::forward_backward(const TrainingBatch& batch, int64_t epoch, int64_t b,
                                        int64_t group_size, bool reduce) {
  sync_before_forward();
  at::Tensor loss;
  {
    AutocastScope autocast(settings.amp, device);
    loss = task->training_loss(*model, batch.inputs, batch.targets);
  }
  const double loss_value = loss.item<double>();
  check_finite(loss_value, epoch, b);
  // Without an attached reducer, arming and finishing do nothing.
  if (dist && reduce) dist->arm_reducer();
  scaler.scale(loss / static_cast<double>(group_size)).backward();
  if (dist && reduce) dist->finish_reducer();
  return loss_value;
}

double Trainer::State::split_forward_backward(const TrainingBatch& batch, int64_t epoch, int64_t b,
                                              int64_t group_size) {
  sync_before_forward();
  const int64_t rows = batch.inputs.size(0);
  // Each slice's share of the batch-mean loss (slices past `rows` stay 0).
  std::vector<double> slice_shares(batch_split->parts(), 0.0);
  const uint64_t step_seed = data::mix_seed(data::mix_seed(seed ^ 0x73706c6974ULL, epoch), b);
  batch_split->forward_backward(
      rows, model->parameters(), [&](int part, int64_t first, int64_t count) {
        // Each slice draws dropout/drop-path masks from its own generator: reproducible
        // whatever the thread timing, and restored on resume with the step index.
        layers::LayerGeneratorScope generator(
            at::make_generator<at::CPUGeneratorImpl>(data::mix_seed(step_seed, part)));
        at::Tensor loss;
        {
          AutocastScope autocast(settings.amp, device);
          loss = task->training_loss(*model, batch.inputs.narrow(0, first, count),
                                     batch.targets.narrow(0, first, count));
        }
        // Weighted by the slice's share of the batch: the slices' gradients sum to the
        // gradient of the batch mean.
        const double weight = static_cast<double>(count) / static_cast<double>(rows);
        slice_shares[part] = loss.item<double>() * weight;
        return scaler.scale(loss * (weight / static_cast<double>(group_size)));
      });
  double loss_value = 0;
  for (double share : slice_shares) loss_value += share;
  check_finite(loss_value, epoch, b);
  return loss_value;
}

MetricList Trainer::State::train_one_epoch(int64_t epoch, Progress& bar, RunLog& log,
                                           double& images_per_second) {
  model->train();
  train_loader->start_epoch(epoch);
  int64_t batches = train_loader->batches_per_epoch();
  if (settings.limit_train_batches) batches = std::min(batches, *settings.limit_train_batches);
  const int64_t last_full_group_end = batches / settings.accum_steps * settings.accum_steps;
  const std::vector<at::Tensor> params = model->parameters();
  double loss_sum = 0;
  int64_t samples = 0;
  const Clock::time_point start = Clock::now();
  data::Batch batch;
  for (int64_t b = 0; b < batches && train_loader->next(batch); ++b) {
    if (const int signal = stop_signal()) stop(signal, epoch, b, batches);
    const int64_t update_index = b / settings.accum_steps;
    // The tail of an epoch may hold fewer batches than settings.accum_steps (timm divides by that).
    const int64_t group_size =
        b >= last_full_group_end ? batches - last_full_group_end : settings.accum_steps;
    const bool last_in_group = (b + 1) % settings.accum_steps == 0 || b + 1 == batches;
    if (b % settings.accum_steps == 0) optimizer->set_lr(schedule->lr_at(epoch, update_index));

    data::Batch on_device;
    // Pinned batches (device=cuda) copy asynchronously on the current stream, which orders
    // them before the kernels that read them.
    const bool async = device.is_cuda();
    on_device.images = batch.images.to(device, /*non_blocking=*/async);
    if (settings.channels_last) on_device.images = channels_last_images(on_device.images);
    on_device.labels = batch.labels.to(device, /*non_blocking=*/async);
    if (batch.targets.defined()) on_device.targets = batch.targets.to(device, async);
    if (batch.meta.defined()) on_device.meta = batch.meta;
    on_device.index = batch.index;
    data::Rng mix_rng(data::mix_seed(data::mix_seed(seed ^ 0x6d69787570ULL, epoch), b));
    const TrainingBatch prepared = task->prepare_training_batch(on_device, mix_rng);
    const double loss_value = batch_split
                                  ? split_forward_backward(prepared, epoch, b, group_size)
                                  : forward_backward(prepared, epoch, b, group_size, last_in_group);

    if (last_in_group) {
      // With the reducer the gradients arrived averaged from backward.
      if (dist && !dist->has_reducer()) dist->average_gradients(params);
      const bool finite = scaler.unscale(params);
      if (finite && settings.clip_grad) {
        if (settings.clip_mode == "norm")
          torch::nn::utils::clip_grad_norm_(params, *settings.clip_grad);
        else
          torch::nn::utils::clip_grad_value_(params, *settings.clip_grad);
      }
      if (finite) {
        optimizer->step();
        if (ema) ema->update(*model);
        ++progress.global_step;
      }
      scaler.update(!finite);
      optimizer->zero_grad();
    }

    loss_sum += loss_value * static_cast<double>(batch.images.size(0));
    samples += batch.images.size(0);
    const double elapsed = seconds_since(start);
    images_per_second = samples / std::max(elapsed, 1e-9);
    if ((b + 1) % settings.log_every == 0 || b + 1 == batches) {
      log.log_step(
          epoch, progress.global_step,
          {{"loss", loss_value}, {"lr", optimizer->lr()}, {"img_per_s", images_per_second}});
    }
    char text[160];
    std::snprintf(text, sizeof(text), "loss %.4f (%.4f) lr %.2e %.0f img/s", loss_value,
                  loss_sum / samples, optimizer->lr(), images_per_second);
    bar.update(
        "train " + std::to_string(epoch + 1) + "/" + std::to_string(schedule->total_epochs()),
        b + 1, batches, text);
  }
  bar.finish();
  if (dist) {
    // The epoch's mean loss over every rank's samples.
    const std::vector<double> totals = dist->sum({loss_sum, static_cast<double>(samples)});
    loss_sum = totals[0];
    samples = static_cast<int64_t>(totals[1]);
    images_per_second *= world_size_of();
  }
  return {{"loss", loss_sum / std::max<int64_t>(samples, 1)}};
}

MetricList Trainer::State::evaluate(Progress& bar, int64_t epoch) {
  eval_loader->on_batch(batch_progress(
      bar, "eval " + std::to_string(epoch + 1) + "/" + std::to_string(schedule->total_epochs())));
  // Every rank evaluates its shard of the evaluation set; the task combines the shards.
  models::Model& evaluated = ema ? static_cast<models::Model&>(ema->module()) : *model;
  AutocastScope autocast(settings.amp, device);
  ModelForward split_forward;
  if (batch_split)
    split_forward = [&](const at::Tensor& images) {
      return batch_split->forward(images, [&](const at::Tensor& slice) {
        AutocastScope slice_autocast(settings.amp, device);
        return evaluated.forward(slice);
      });
    };
  return task->evaluate(evaluated, *eval_loader, device, split_forward);
}

void Trainer::State::save_checkpoints(int64_t epoch) {
  CheckpointContents c;
  c.arch = model_name;
  c.model = models::checkpoint::state_dict_of(*model);
  c.optimizer = optimizer->state();
  if (ema) {
    c.ema = models::checkpoint::state_dict_of(ema->module());
    progress.ema_updates = ema->updates();
  }
  c.rng_state = torch_rng_state();
  c.config_yaml = config::dump_yaml(config);
  keep_checkpoints({output_dir, settings.keep_top_k, task->higher_is_better()}, epoch, progress, c);
}

void Trainer::State::resume_if_asked() {
  if (!settings.resume || settings.resume->empty()) return;
  std::string path = *settings.resume;
  if (path == "auto") {
    // Every rank resumes from rank 0's run directory.
    const std::string run_dir = dist ? dist->share("run_dir", output_dir) : output_dir;
    path = run_dir + "/last.pt";
    if (!fs::exists(path)) {
      std::cout << "trainer.resume=auto: no last.pt in " << output_dir << ", starting fresh"
                << std::endl;
      return;
    }
  } else if (!fs::exists(path)) {
    throw ConfigError("trainer.resume: checkpoint '" + path + "' does not exist");
  }
  restore(path);
}

void Trainer::State::stop(int signal, int64_t epoch, int64_t batch, int64_t batches) const {
  const int64_t total = schedule->total_epochs();
  std::string message = signal_name(signal) + " during epoch " + std::to_string(epoch + 1) + "/" +
                        std::to_string(total) + " (batch " + std::to_string(batch) + " of " +
                        std::to_string(batches) + "); ";
  if (progress.epoch > 0)
    message += output_dir + "/last.pt holds epoch " + std::to_string(progress.epoch) +
               ": continue with trainer.resume=auto run.dir=" + output_dir;
  else
    message += "no epoch had finished, so there is no checkpoint to continue from";
  throw StopRequested(signal, message);
}

double Trainer::State::verify_final_weights() const {
  // They start equal and take the same averaged steps, so the ranks must agree.
  double checksum = 0;
  for (const at::Tensor& p : model->parameters())
    checksum += p.to(at::kDouble).sum().item<double>();
  if (dist) {
    const std::vector<double> all = dist->sum({checksum, checksum * checksum});
    const double n = dist->world_size(), mean = all[0] / n;
    const double spread = std::sqrt(std::max(0.0, all[1] / n - mean * mean));
    if (spread > 1e-6 * std::max(1.0, std::abs(mean)))
      throw std::runtime_error("distributed: the ranks' weights diverged (parameter sums spread " +
                               std::to_string(spread) + ")");
  }
  return checksum;
}

TrainOutcome Trainer::run() {
  State& s = *state_;
  TrainOutcome outcome;
  outcome.metric_name = s.task->primary_metric();
  const Clock::time_point start = Clock::now();
  s.resume_if_asked();
  // One process stops politely on SIGINT/SIGTERM; ranks of a distributed run keep the default
  // (they cannot agree on a batch to stop at without a collective per step).
  if (!s.dist) install_stop_handlers();

  const int64_t total_epochs = s.schedule->total_epochs();
  std::cout << "model " << s.model_name << ": "
            << with_thousands(models::count_parameters(*s.model)) << " parameters; "
            << s.train_loader->samples_per_epoch() << " training / "
            << s.eval_loader->samples_per_epoch() << " evaluation images; " << total_epochs
            << " epochs; " << s.optimizer->name() << " lr " << s.optimizer->lr() << ", "
            << s.schedule->describe() << "; "
            << (s.batch_split ? std::to_string(s.batch_split->parts()) + " batch slices x "
                              : std::string())
            << at::get_num_threads() << " threads; output " << s.output_dir << std::endl;
  std::cout << "train transforms: " << s.train_loader->source().describe() << std::endl;

  RunLog log(s.is_main() ? s.output_dir : std::string(), s.progress.epoch, s.settings.tensorboard);
  Progress bar(s.settings.log_every);
  double images_per_second_sum = 0;
  for (int64_t epoch = s.progress.epoch; epoch < total_epochs; ++epoch) {
    const Clock::time_point epoch_start = Clock::now();
    double images_per_second = 0;
    const MetricList train_metrics = s.train_one_epoch(epoch, bar, log, images_per_second);
    const double train_seconds = seconds_since(epoch_start);
    images_per_second_sum += images_per_second;
    ++outcome.epochs_run;

    MetricList eval_metrics;
    s.progress.metric.reset();
    if ((epoch + 1) % s.settings.eval_every == 0 || epoch + 1 == total_epochs) {
      eval_metrics = s.evaluate(bar, epoch);
      s.progress.metric = metric_value(eval_metrics, outcome.metric_name);
      outcome.final_eval = eval_metrics;
    }
    s.progress.epoch = epoch + 1;
    // Log first, then checkpoint: a run killed in between resumes from the previous
    // checkpoint and RunLog drops this epoch's records; the other order loses them.
    log.log_epoch(
        epoch, train_metrics, eval_metrics, s.optimizer->lr(),
        {{"epoch_seconds", seconds_since(epoch_start)}, {"train_img_per_s", images_per_second}});
    if (s.is_main()) s.save_checkpoints(epoch);
    std::cout << "epoch " << epoch + 1 << "/" << total_epochs << ": train "
              << format_metrics(train_metrics)
              << (eval_metrics.empty() ? std::string()
                  : s.ema              ? " | eval (EMA) " + format_metrics(eval_metrics)
                                       : " | eval " + format_metrics(eval_metrics))
              << " | " << static_cast<int64_t>(images_per_second) << " img/s, "
              << format_duration(train_seconds) << " train, "
              << format_duration(seconds_since(epoch_start)) << " total" << std::endl;
  }
  const double checksum = s.verify_final_weights();
  std::cout << "weights: parameter sum " << std::setprecision(10) << checksum
            << (s.dist ? ", equal on all " + std::to_string(s.dist->world_size()) + " ranks" : "")
            << std::setprecision(6) << std::endl;
  outcome.best_metric = s.progress.best_metric;
  outcome.best_epoch = s.progress.best_epoch;
  outcome.seconds = seconds_since(start);
  outcome.train_images_per_second =
      outcome.epochs_run ? images_per_second_sum / static_cast<double>(outcome.epochs_run) : 0;
  if (s.skipped_samples)
    std::cerr << "warning: " << s.skipped_samples << " unreadable samples were skipped"
              << std::endl;
  return outcome;
}

}  // namespace vitrine::train
