// Trainer building blocks against independent references: optimisers against libtorch's own
// torch::optim (SGD, AdamW) and a per-element loop (LAMB), schedules against hand-computed
// tables, losses against their definitions, checkpoints and TensorBoard records round-trips.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "config/embedded.h"
#include "config/node.h"
#include "config/yaml_io.h"
#include "core/error.h"
#include "core/files.h"
#include "support/yaml_view.h"
#include "train/batch_split.h"
#include "train/checkpoint.h"
#include "train/distributed.h"
#include "train/ema.h"
#include "train/grad_scaler.h"
#include "train/losses.h"
#include "train/lr_schedule.h"
#include "train/memory_format.h"
#include "train/optimizer.h"
#include "train/tensorboard.h"
#include "train/trainer_settings.h"

namespace vitrine::train {
namespace {

using testing::yaml_view;

struct TinyNet : torch::nn::Module {
  TinyNet() {
    fc = register_module("fc", torch::nn::Linear(5, 4));
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({4})));
    rpb = register_parameter("rpb", at::randn({2, 3}));
  }
  at::Tensor forward(const at::Tensor& x) { return norm(fc(x)) * rpb.sum(); }
  torch::nn::Linear fc{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  at::Tensor rpb;
};

// Runs `steps` identical updates through `ours` (on a) and `reference` (on b).
template <typename Reference>
void run_both(Optimizer& ours, TinyNet& a, Reference& reference, TinyNet& b, int steps) {
  for (int s = 0; s < steps; ++s) {
    const at::Tensor x = at::randn({3, 5});
    ours.zero_grad();
    a.forward(x).tanh().sum().backward();
    ours.step();
    reference.zero_grad();
    b.forward(x).tanh().sum().backward();
    reference.step();
  }
}

void copy_weights(TinyNet& from, TinyNet& to) {
  at::NoGradGuard g;
  auto src = from.parameters(), dst = to.parameters();
  for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
}

void expect_same_params(TinyNet& a, TinyNet& b) {
  auto pa = a.named_parameters(), pb = b.named_parameters();
  for (const auto& item : pa)
    EXPECT_TRUE(item.value().allclose(pb[item.key()], 1e-5, 1e-6))
        << item.key() << " max diff " << (item.value() - pb[item.key()]).abs().max().item<double>()
        << " scale " << item.value().abs().max().item<double>();
}

TEST(DistributedOptions, EnvironmentThenConfigKeys) {
  for (const char* name : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"})
    unsetenv(name);
  const DistributedOptions none = distributed_options(yaml_view("{}", "dist"));
  EXPECT_EQ(none.world_size, 1);
  EXPECT_EQ(none.rank, 0);
  setenv("RANK", "3", 1);
  setenv("WORLD_SIZE", "4", 1);
  setenv("LOCAL_RANK", "1", 1);
  setenv("MASTER_ADDR", "10.0.0.7", 1);
  setenv("MASTER_PORT", "29611", 1);
  const DistributedOptions from_env = distributed_options(yaml_view("{rank: null}", "dist"));
  EXPECT_EQ(from_env.rank, 3);
  EXPECT_EQ(from_env.world_size, 4);
  EXPECT_EQ(from_env.local_rank, 1);
  EXPECT_EQ(from_env.master_addr, "10.0.0.7");
  EXPECT_EQ(from_env.master_port, 29611);
  // Config keys win over the environment.
  const DistributedOptions keys =
      distributed_options(yaml_view("{rank: 0, master_port: 30000, timeout_s: 5}", "dist"));
  EXPECT_EQ(keys.rank, 0);
  EXPECT_EQ(keys.master_port, 30000);
  EXPECT_EQ(keys.timeout_s, 5.0);
  EXPECT_THROW(distributed_options(yaml_view("{rank: 4}", "dist")), ConfigError);  // of 4 ranks
  EXPECT_THROW(distributed_options(yaml_view("{master_port: 70000}", "dist")), ConfigError);
  EXPECT_THROW(distributed_options(yaml_view("{nodes: 2}", "dist")), ConfigError);
  setenv("WORLD_SIZE", "two", 1);
  EXPECT_THROW(distributed_options(yaml_view("{}", "dist")), ConfigError);
  for (const char* name : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"})
    unsetenv(name);
}

TEST(WeightDecayGroups, NormsBiasesAndKeywordsGetNone) {
  TinyNet net;
  const auto groups = weight_decay_groups(net, 0.05, {"rpb"});
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].name, "no_decay");
  EXPECT_EQ(groups[0].weight_decay, 0.0);
  EXPECT_EQ(groups[0].names,
            (std::vector<std::string>{"rpb", "fc.bias", "norm.weight", "norm.bias"}));
  EXPECT_EQ(groups[1].names, (std::vector<std::string>{"fc.weight"}));
  EXPECT_EQ(groups[1].weight_decay, 0.05);
  // decay_all (mmdetection's default): one group, norms, biases and keywords included.
  const auto all = weight_decay_groups(net, 1e-4, {"rpb"}, true);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].names.size(), 5u);
  EXPECT_EQ(all[0].weight_decay, 1e-4);
}

TEST(Optimizers, SgdNesterovMatchesTorchOptim) {
  at::manual_seed(0);
  TinyNet a, b;
  copy_weights(a, b);
  ParamGroup all{"all", 1e-3, {}, {}};
  for (const auto& p : a.named_parameters()) {
    all.names.push_back(p.key());
    all.params.push_back(p.value());
  }
  SgdOptions o;
  o.momentum = 0.9;
  o.nesterov = true;
  auto ours = make_sgd({all}, 0.05, o);
  torch::optim::SGD reference(
      b.parameters(),
      torch::optim::SGDOptions(0.05).momentum(0.9).nesterov(true).weight_decay(1e-3));
  run_both(*ours, a, reference, b, 6);
  expect_same_params(a, b);
}

TEST(Optimizers, AdamWMatchesTorchOptim) {
  at::manual_seed(1);
  TinyNet a, b;
  copy_weights(a, b);
  ParamGroup all{"all", 0.05, {}, {}};
  for (const auto& p : a.named_parameters()) {
    all.names.push_back(p.key());
    all.params.push_back(p.value());
  }
  auto ours = make_adamw({all}, 2e-3, AdamOptions{0.9, 0.98, 1e-8});
  torch::optim::AdamW reference(
      b.parameters(),
      torch::optim::AdamWOptions(2e-3).betas({0.9, 0.98}).eps(1e-8).weight_decay(0.05));
  run_both(*ours, a, reference, b, 8);
  expect_same_params(a, b);
}

TEST(Optimizers, AdamMatchesTorchOptimWithL2WeightDecay) {
  at::manual_seed(5);
  TinyNet a, b, c;
  copy_weights(a, b);
  copy_weights(a, c);
  ParamGroup all{"all", 0.05, {}, {}}, all_c{"all", 0.05, {}, {}};
  for (const auto& p : a.named_parameters()) {
    all.names.push_back(p.key());
    all.params.push_back(p.value());
  }
  auto ours = make_adam({all}, 2e-3, AdamOptions{0.9, 0.98, 1e-8});
  EXPECT_EQ(ours->name(), "adam");
  torch::optim::Adam reference(
      b.parameters(),
      torch::optim::AdamOptions(2e-3).betas({0.9, 0.98}).eps(1e-8).weight_decay(0.05));
  run_both(*ours, a, reference, b, 8);
  expect_same_params(a, b);
  // AdamW's decoupled decay against the same torch Adam ends elsewhere: the forms differ.
  for (const auto& p : c.named_parameters()) {
    all_c.names.push_back(p.key());
    all_c.params.push_back(p.value());
  }
  TinyNet d;
  copy_weights(c, d);
  auto decoupled = make_adamw({all_c}, 2e-3, AdamOptions{0.9, 0.98, 1e-8});
  torch::optim::Adam l2(
      d.parameters(),
      torch::optim::AdamOptions(2e-3).betas({0.9, 0.98}).eps(1e-8).weight_decay(0.05));
  run_both(*decoupled, c, l2, d, 8);
  double max_diff = 0;
  auto pc = c.parameters(), pd = d.parameters();
  for (size_t i = 0; i < pc.size(); ++i)
    max_diff = std::max(max_diff, (pc[i] - pd[i]).abs().max().item<double>());
  EXPECT_GT(max_diff, 1e-6);
}

TEST(Optimizers, LambMatchesAnElementwiseReference) {
  at::manual_seed(2);
  at::Tensor w = at::randn({6}, at::kDouble).set_requires_grad(true);
  const at::Tensor w0 = w.detach().clone();
  ParamGroup g{"decay", 0.02, {"w"}, {w}};
  LambOptions o;
  o.max_grad_norm = 0.5;
  auto lamb = make_lamb({g}, 0.01, o);
  std::vector<double> p(6), m(6, 0), v(6, 0);
  for (int i = 0; i < 6; ++i) p[i] = w0[i].item<double>();
  for (int step = 1; step <= 3; ++step) {
    const at::Tensor grad = at::randn({6}, at::kDouble);
    w.mutable_grad() = grad.clone();
    lamb->step();
    // timm Lamb, written out per element.
    double norm = 0;
    for (int i = 0; i < 6; ++i) norm += grad[i].item<double>() * grad[i].item<double>();
    const double divisor = std::max(std::sqrt(norm) / 0.5, 1.0);
    std::vector<double> update(6);
    const double bc1 = 1 - std::pow(0.9, step), bc2 = 1 - std::pow(0.999, step);
    double w_norm = 0, u_norm = 0;
    for (int i = 0; i < 6; ++i) {
      const double gi = grad[i].item<double>() / divisor;
      m[i] = 0.9 * m[i] + 0.1 * gi;
      v[i] = 0.999 * v[i] + 0.001 * gi * gi;
      update[i] = (m[i] / bc1) / (std::sqrt(v[i]) / std::sqrt(bc2) + 1e-6) + 0.02 * p[i];
      w_norm += p[i] * p[i];
      u_norm += update[i] * update[i];
    }
    const double trust = std::sqrt(w_norm) / std::sqrt(u_norm);
    for (int i = 0; i < 6; ++i) p[i] -= 0.01 * trust * update[i];
    for (int i = 0; i < 6; ++i) EXPECT_NEAR(w[i].item<double>(), p[i], 1e-12) << "step " << step;
  }
}

TEST(Optimizers, StateRoundTripsByName) {
  at::manual_seed(3);
  TinyNet a, b;
  copy_weights(a, b);
  auto groups_a = weight_decay_groups(a, 0.05, {"rpb"});
  auto groups_b = weight_decay_groups(b, 0.05, {"rpb"});
  auto first = make_adamw(groups_a, 1e-3, {});
  auto second = make_adamw(groups_b, 1e-3, {});
  const at::Tensor x = at::randn({3, 5});
  for (int s = 0; s < 3; ++s) {
    first->zero_grad();
    a.forward(x).sum().backward();
    first->step();
  }
  copy_weights(a, b);
  second->load_state(first->state());
  EXPECT_EQ(second->steps(), 3);
  first->zero_grad();
  a.forward(x).sum().backward();
  first->step();
  second->zero_grad();
  b.forward(x).sum().backward();
  second->step();
  expect_same_params(a, b);
}

// Updates spread over threads (the batch slices' threads in training) give the serial result
// bit for bit: every parameter gets the same ops whichever thread runs them.
TEST(Optimizers, UpdatesInPartsMatchTheSerialStepExactly) {
  at::manual_seed(4);
  for (const char* name : {"adamw", "lamb", "sgd"}) {
    TinyNet a, b;
    copy_weights(a, b);
    const config::ConfigView optim =
        yaml_view(std::string("{name: ") + name + ", lr: 0.01}", "optim");
    auto serial = make_optimizer(optim, a, {}, 128);
    auto threaded = make_optimizer(optim, b, {}, 128);
    BatchSplit slices(2);
    int calls = 0;
    std::atomic<int> ranges{0};
    threaded->update_in_parts(
        [&](const std::vector<int64_t>& weights, const std::function<void(size_t, size_t)>& task) {
          ++calls;
          slices.run_balanced(weights, [&](size_t begin, size_t end) {
            ++ranges;
            task(begin, end);
          });
        });
    for (int s = 0; s < 3; ++s) {
      const at::Tensor x = at::randn({3, 5});
      serial->zero_grad();
      a.forward(x).tanh().sum().backward();
      serial->step();
      threaded->zero_grad();
      b.forward(x).tanh().sum().backward();
      threaded->step();
    }
    EXPECT_EQ(calls, 3) << name;
    EXPECT_EQ(ranges.load(), 6) << name;  // two ranges a step
    auto pa = a.named_parameters(), pb = b.named_parameters();
    for (const auto& item : pa)
      EXPECT_TRUE(item.value().equal(pb[item.key()])) << name << item.key();
  }
}

TEST(Optimizers, ConfigPicksAndScales) {
  TinyNet net;
  const auto optim = yaml_view(
      "{name: sgd, lr: 0.1, weight_decay: 0.0001, momentum: 0.9, nesterov: true, lr_base_batch: "
      "256}",
      "optim");
  auto sgd = make_optimizer(optim, net, {}, 1024);
  EXPECT_EQ(sgd->name(), "sgd");
  EXPECT_DOUBLE_EQ(sgd->lr(), 0.4);  // 0.1 * 1024 / 256
  EXPECT_DOUBLE_EQ(
      scaled_lr(yaml_view("{lr: 0.1, lr_base_batch: 256, lr_base_scale: sqrt}", "optim"), 1024),
      0.2);
  EXPECT_THROW(make_optimizer(yaml_view("{name: adagrad, lr: 0.1}", "optim"), net, {}, 1),
               ConfigError);
  EXPECT_EQ(make_optimizer(yaml_view("{name: adam, lr: 0.1}", "optim"), net, {}, 1)->name(),
            "adam");
  EXPECT_THROW(
      make_optimizer(yaml_view("{name: sgd, lr: 0.1, momentun: 0.9}", "optim"), net, {}, 1),
      ConfigError);
}

TEST(LrScheduleTest, CosineWithWarmupAndCooldownTable) {
  const auto sched = yaml_view(
      "{name: cosine, warmup_epochs: 2, warmup_lr: 1.0e-6, min_lr: 1.0e-5, cooldown_epochs: 2, "
      "step_on: epoch}",
      "sched");
  const LrSchedule s(sched, 1e-3, 10, 100);
  EXPECT_EQ(s.total_epochs(), 12);
  // timm CosineLRScheduler (warmup_prefix False): t < 2 linear from warmup_lr; then
  // min + (base - min)/2 (1 + cos(pi t / 10)); min_lr from t = 10 on.
  const double table[] = {1e-6, 1e-6 + (1e-3 - 1e-6) / 2,
                          1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + std::cos(M_PI * 2 / 10)),
                          1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + std::cos(M_PI * 3 / 10)),
                          1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + std::cos(M_PI * 5 / 10))};
  EXPECT_DOUBLE_EQ(s.lr_at(0, 50), table[0]);  // per-epoch: the update index is ignored
  EXPECT_DOUBLE_EQ(s.lr_at(1, 0), table[1]);
  EXPECT_DOUBLE_EQ(s.lr_at(2, 0), table[2]);
  EXPECT_DOUBLE_EQ(s.lr_at(3, 0), table[3]);
  EXPECT_DOUBLE_EQ(s.lr_at(5, 0), table[4]);
  EXPECT_DOUBLE_EQ(s.lr_at(10, 0), 1e-5);
  EXPECT_DOUBLE_EQ(s.lr_at(11, 0), 1e-5);

  const auto per_update = yaml_view(
      "{name: cosine, warmup_epochs: 1, warmup_lr: 0.0, min_lr: 0.0, step_on: update}", "sched");
  const LrSchedule u(per_update, 1.0, 4, 10);  // t_initial = 40 updates, warmup 10
  EXPECT_DOUBLE_EQ(u.lr_at(0, 5), 0.5);
  EXPECT_DOUBLE_EQ(u.lr_at(2, 0), 0.5 * (1 + std::cos(M_PI * 20 / 40)));
}

TEST(LrScheduleTest, StepAndMultiStepTables) {
  const LrSchedule step(yaml_view("{name: step, decay_epochs: 3, decay_rate: 0.5}", "sched"), 0.8,
                        10, 1);
  const double expected[] = {0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2, 0.2, 0.2, 0.1};
  for (int e = 0; e < 10; ++e) EXPECT_DOUBLE_EQ(step.lr_at(e, 0), expected[e]) << e;
  const LrSchedule multi(yaml_view("{name: multistep, decay_milestones: [2, 5], decay_rate: 0.1, "
                                   "warmup_epochs: 1, warmup_lr: 0.0}",
                                   "sched"),
                         1.0, 8, 1);
  EXPECT_DOUBLE_EQ(multi.lr_at(0, 0), 0.0);
  EXPECT_DOUBLE_EQ(multi.lr_at(1, 0), 1.0);
  EXPECT_DOUBLE_EQ(multi.lr_at(2, 0), 0.1);  // bisect_right: milestone 2 has passed at t = 2
  EXPECT_NEAR(multi.lr_at(5, 0), 0.01, 1e-15);
  EXPECT_THROW(LrSchedule(yaml_view("{name: linear}", "sched"), 1, 1, 1), ConfigError);
  // mmcv's poly: (base - min) (1 - t / T)^power + min, per update here (T = 40).
  const LrSchedule poly(
      yaml_view("{name: poly, power: 2.0, min_lr: 0.1, step_on: update}", "sched"), 1.0, 4, 10);
  EXPECT_DOUBLE_EQ(poly.lr_at(0, 0), 1.0);
  EXPECT_NEAR(poly.lr_at(2, 0), 0.9 * 0.25 + 0.1, 1e-15);
  EXPECT_NEAR(poly.lr_at(3, 5), 0.9 * std::pow(1 - 35.0 / 40, 2) + 0.1, 1e-15);
  EXPECT_THROW(LrSchedule(yaml_view("{name: poly, power: 0}", "sched"), 1, 1, 1), ConfigError);
  // torch's OneCycleLR over 10 epochs x 10 updates: from 1/25 up to 1 at step 29
  // (pct_start * 100 - 1), cosine down to 1/25/1e4 at step 99.
  const LrSchedule one(yaml_view("{name: onecycle, step_on: update}", "sched"), 1.0, 10, 10);
  EXPECT_NEAR(one.lr_at(0, 0), 0.04, 1e-15);
  EXPECT_NEAR(one.lr_at(2, 9), 1.0, 1e-15);
  EXPECT_NEAR(one.lr_at(1, 4), 0.04 + 0.96 * (1 - std::cos(M_PI * 14 / 29)) / 2, 1e-12);
  EXPECT_NEAR(one.lr_at(6, 4), (1.0 + 4e-6) / 2, 1e-12);  // halfway down: pct 35/70
  EXPECT_NEAR(one.lr_at(9, 9), 4e-6, 1e-15);
  EXPECT_THROW(LrSchedule(yaml_view("{name: onecycle, warmup_epochs: 2}", "sched"), 1, 10, 10),
               ConfigError);
  EXPECT_THROW(LrSchedule(yaml_view("{name: cosine, warmup: 3}", "sched"), 1, 1, 1), ConfigError);
}

TEST(Losses, MatchTheirDefinitions) {
  const at::Tensor logits = at::tensor({2.0, 0.5, -1.0, 0.1, 0.2, 0.3}, at::kDouble).view({2, 3});
  const at::Tensor labels = at::tensor({0, 2}, at::kLong);
  const at::Tensor logp = at::log_softmax(logits.to(at::kFloat), 1);
  double expected = 0;
  for (int i = 0; i < 2; ++i) {
    const double nll = -logp[i][labels[i].item<int64_t>()].item<double>();
    const double mean = -logp[i].mean().item<double>();
    expected += (0.9 * nll + 0.1 * mean) / 2;
  }
  EXPECT_NEAR(label_smoothing_cross_entropy(logits, labels, 0.1).item<double>(), expected, 1e-6);
  // Soft targets equal to a smoothed one-hot give the same value as label smoothing.
  const at::Tensor soft =
      at::full({2, 3}, 0.1 / 3).index_put_({at::tensor({0, 1}, at::kLong), labels}, 0.9 + 0.1 / 3);
  EXPECT_NEAR(soft_target_cross_entropy(logits, soft).item<double>(), expected, 1e-6);

  // timm's BinaryCrossEntropy: mean over all logits of -(t log s(x) + (1 - t) log(1 - s(x))),
  // hard labels as smoothed one-hot, optionally thresholded targets.
  auto bce = [&](const at::Tensor& targets) {
    double sum = 0;
    for (int i = 0; i < 2; ++i)
      for (int c = 0; c < 3; ++c) {
        const double x = logits[i][c].item<double>(), t = targets[i][c].item<double>();
        const double s = 1.0 / (1.0 + std::exp(-x));
        sum += -(t * std::log(s) + (1 - t) * std::log(1 - s));
      }
    return sum / 6;
  };
  EXPECT_NEAR(binary_cross_entropy(logits, labels, 0.1).item<double>(), bce(soft), 1e-6);
  EXPECT_NEAR(binary_cross_entropy(logits, soft, 0.5).item<double>(), bce(soft), 1e-6);
  const at::Tensor one_hot = soft.gt(0.2).to(at::kDouble);
  EXPECT_NEAR(binary_cross_entropy(logits, labels, 0.1, 0.2).item<double>(), bce(one_hot), 1e-6);
  EXPECT_NE(bce(one_hot), bce(soft));
}

TEST(Ema, FollowsTheDecayRule) {
  at::manual_seed(4);
  auto model = std::make_shared<TinyNet>();
  auto shadow = std::make_shared<TinyNet>();
  ModelEma ema(shadow, *model, 0.9, false);
  EXPECT_TRUE(shadow->fc->weight.equal(model->fc->weight));
  const at::Tensor before = shadow->fc->weight.clone();
  {
    at::NoGradGuard g;
    model->fc->weight.add_(1.0);
  }
  ema.update(*model);
  EXPECT_TRUE(shadow->fc->weight.allclose(0.9 * before + 0.1 * model->fc->weight));
  ModelEma warm(std::make_shared<TinyNet>(), *model, 0.9999, true);
  EXPECT_DOUBLE_EQ(warm.current_decay(), 0.0);  // 1 - 1^(-2/3)
  warm.set_updates(7);
  EXPECT_NEAR(warm.current_decay(), 1 - std::pow(8.0, -2.0 / 3.0), 1e-12);
}

TEST(GradScalerTest, SkipsNonFiniteStepsAndAdjustsTheScale) {
  GradScaler scaler(true, 1024.0, 2.0, 0.5, 2);
  at::Tensor w = at::ones({2}).set_requires_grad(true);
  w.mutable_grad() = at::full({2}, 2048.0);
  EXPECT_TRUE(scaler.unscale({w}));
  EXPECT_TRUE(w.grad().equal(at::full({2}, 2.0)));
  scaler.update(false);
  scaler.update(false);
  EXPECT_DOUBLE_EQ(scaler.current_scale(), 2048.0);  // grew after 2 clean steps
  w.mutable_grad() = at::tensor({1.0f, std::numeric_limits<float>::infinity()});
  EXPECT_FALSE(scaler.unscale({w}));
  scaler.update(true);
  EXPECT_DOUBLE_EQ(scaler.current_scale(), 1024.0);
}

TEST(Checkpoint, EncodesAndReadsBackEverything) {
  CheckpointContents c;
  c.arch = "dinat_nano";
  c.model = {{"a.weight", at::randn({2, 3})}, {"b", at::arange(4)}};
  c.optimizer = {{"step", at::scalar_tensor(7, at::kLong)},
                 {"a.weight.exp_avg", at::randn({2, 3})}};
  c.ema = models::checkpoint::StateDict{{"a.weight", at::randn({2, 3})}};
  c.progress.epoch = 3;
  c.progress.global_step = 42;
  c.progress.metric = 88.5;
  c.progress.best_metric = 90.25;
  c.progress.best_epoch = 1;
  c.progress.top_k = {{90.25, 1}, {88.5, 2}};
  c.progress.ema_updates = 41;
  c.rng_state = torch_rng_state();
  c.config_yaml = "model:\n  name: dinat_nano\n";
  const std::string path = ::testing::TempDir() + "/vitrine_ckpt_test.pt";
  write_file_atomically(path, encode_checkpoint(c));
  const CheckpointContents r = read_checkpoint(path);
  EXPECT_EQ(r.arch, "dinat_nano");
  ASSERT_EQ(r.model.size(), 2u);
  EXPECT_TRUE(r.model[0].second.equal(c.model[0].second));
  EXPECT_TRUE(r.model[1].second.equal(c.model[1].second));
  ASSERT_EQ(r.optimizer.size(), 2u);
  EXPECT_EQ(r.optimizer[0].second.item<int64_t>(), 7);
  ASSERT_TRUE(r.ema.has_value());
  EXPECT_TRUE((*r.ema)[0].second.equal((*c.ema)[0].second));
  EXPECT_EQ(r.progress.epoch, 3);
  EXPECT_EQ(r.progress.global_step, 42);
  EXPECT_DOUBLE_EQ(*r.progress.metric, 88.5);
  EXPECT_DOUBLE_EQ(*r.progress.best_metric, 90.25);
  EXPECT_EQ(r.progress.top_k, c.progress.top_k);
  EXPECT_EQ(r.progress.ema_updates, 41);
  EXPECT_TRUE(r.rng_state.equal(c.rng_state));
  EXPECT_EQ(r.config_yaml, c.config_yaml);
  // The checkpoint doubles as a pretrained file: its state dict is found by name.
  const auto weights = models::checkpoint::load_state_dict_file(path);
  EXPECT_EQ(weights.size(), 2u);
  // A plain state dict is not a training checkpoint: the error says what to do instead.
  at::manual_seed(0);
  TinyNet net;
  models::checkpoint::save_state_dict(net, path);
  try {
    read_checkpoint(path);
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("pretrained"), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, RngStateRestoresTheSameDraws) {
  at::manual_seed(9);
  const at::Tensor state = torch_rng_state();
  const at::Tensor first = at::rand({5});
  set_torch_rng_state(state);
  EXPECT_TRUE(at::rand({5}).equal(first));
}

TEST(TensorBoard, Crc32cKnownAnswerAndReadableRecords) {
  // RFC 3720 check value for "123456789".
  EXPECT_EQ(crc32c("123456789", 9), 0xe3069283u);
  const std::string dir = ::testing::TempDir() + "/vitrine_tb_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string path;
  {
    TensorBoardWriter writer(dir);
    writer.add_scalar("train/loss", 0.25, 7);
    path = writer.path();
  }
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Walk the TFRecord frames and check both CRCs of each.
  size_t offset = 0;
  std::vector<std::string> payloads;
  while (offset < bytes.size()) {
    uint64_t length;
    uint32_t length_crc, data_crc;
    std::memcpy(&length, bytes.data() + offset, 8);
    std::memcpy(&length_crc, bytes.data() + offset + 8, 4);
    ASSERT_EQ(length_crc, masked_crc32c(bytes.data() + offset, 8));
    const std::string payload = bytes.substr(offset + 12, length);
    std::memcpy(&data_crc, bytes.data() + offset + 12 + length, 4);
    ASSERT_EQ(data_crc, masked_crc32c(payload.data(), payload.size()));
    payloads.push_back(payload);
    offset += 12 + length + 4;
  }
  ASSERT_EQ(payloads.size(), 2u);
  EXPECT_NE(payloads[0].find("brain.Event:2"), std::string::npos);
  EXPECT_NE(payloads[1].find("train/loss"), std::string::npos);
  // step 7 as a varint after field tag 0x10; simple_value 0.25f after tag 0x15.
  EXPECT_NE(payloads[1].find(std::string("\x10\x07", 2)), std::string::npos);
  float value = 0.25f;
  EXPECT_NE(
      payloads[1].find(std::string("\x15", 1) + std::string(reinterpret_cast<char*>(&value), 4)),
      std::string::npos);
}

// The embedded trainer defaults per device: batch_split auto is 2 slices on the CPU and whole
// batches on a GPU (where a number above 1 is refused), channels-last off, cuDNN benchmark on.
TEST(TrainerSettings, BatchSplitAutoFollowsTheDevice) {
  const std::string defaults = config::embedded_config_files().at("trainer/default.yaml");
  const TrainerSettings cpu =
      read_trainer_settings(yaml_view(defaults, "trainer"), c10::Device("cpu"));
  EXPECT_EQ(cpu.batch_split, 2);
  EXPECT_FALSE(cpu.channels_last);
  EXPECT_TRUE(cpu.cudnn_benchmark);
  const c10::Device cuda("cuda:0");
  EXPECT_EQ(read_trainer_settings(yaml_view(defaults, "trainer"), cuda).batch_split, 1);

  // The defaults with batch_split set to `value`.
  auto with = [&](const std::string& value) {
    std::string text = defaults;
    const size_t at = text.find("batch_split: auto");
    EXPECT_NE(at, std::string::npos) << text;
    text.replace(at, std::string("batch_split: auto").size(), "batch_split: " + value);
    return yaml_view(text, "trainer");
  };
  EXPECT_EQ(read_trainer_settings(with("3"), c10::Device("cpu")).batch_split, 3);
  try {
    read_trainer_settings(with("3"), cuda);
    ADD_FAILURE() << "batch_split 3 on cuda was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("leave it at 1"), std::string::npos) << e.what();
  }
  try {
    read_trainer_settings(with("many"), c10::Device("cpu"));
    ADD_FAILURE() << "batch_split 'many' was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("trainer.batch_split must be auto or a number of slices, "
                                         "got 'many'"),
              std::string::npos)
        << e.what();
  }
}

// Channels-last moves strides only: a convolution gives the same output, its weight (and a
// 4-D batch) now in NHWC order, other tensors untouched.
TEST(MemoryFormat, ChannelsLastKeepsValuesAndMovesStrides) {
  torch::manual_seed(3);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 8, 3).padding(1));
  const at::Tensor images = at::randn({2, 3, 9, 9});
  const at::Tensor before = conv->forward(images).detach();
  to_channels_last(*conv);
  EXPECT_TRUE(conv->weight.is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_FALSE(conv->weight.is_contiguous());
  EXPECT_TRUE(conv->bias.is_contiguous());
  const at::Tensor nhwc = channels_last_images(images);
  EXPECT_TRUE(nhwc.is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(at::allclose(conv->forward(nhwc), before, 1e-5, 1e-6));
  const at::Tensor flat = at::randn({4, 5});
  EXPECT_TRUE(channels_last_images(flat).is_same(flat));
}

}  // namespace
}  // namespace vitrine::train
