// Optimisers with PyTorch's update rules (SGD with momentum/Nesterov, AdamW) and timm's LAMB,
// over parameter groups that carry their own weight decay. State is exposed as named tensors
// ("<param>.<slot>") so checkpoints hold it by parameter name, not by position.
#pragma once

#include <torch/nn/module.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/view.h"

namespace vitrine::train {

struct ParamGroup {
  std::string name;  // "decay" / "no_decay"
  double weight_decay = 0;
  std::vector<std::string> names;
  std::vector<at::Tensor> params;
};

// timm's param_groups_weight_decay: no decay for 1-D parameters (norm weights, biases) and
// names containing a keyword (rpb, relative_position_bias_table, pos_embed, ...).
std::vector<ParamGroup> weight_decay_groups(const torch::nn::Module& model, double weight_decay,
                                            const std::vector<std::string>& no_decay_keywords,
                                            bool decay_all = false);

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// Runs task(begin, end) over consecutive ranges covering items of the given weights, each
// range on its own thread, and returns when all are done (BatchSplit::run_balanced).
using RangeRunner = std::function<void(const std::vector<int64_t>& weights,
                                       const std::function<void(size_t begin, size_t end)>& task)>;

class Optimizer {
 public:
  Optimizer(std::vector<ParamGroup> groups, double lr);
  virtual ~Optimizer() = default;

  void set_lr(double lr) { lr_ = lr; }
  double lr() const { return lr_; }
  int64_t steps() const { return steps_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  void zero_grad();
  // One update from the parameters' .grad (parameters without a gradient are skipped).
  void step();
  // Spread step()'s per-parameter updates over threads through `runner`, weighted by the
  // parameters' sizes (each parameter's update is the same ops whichever thread runs it, so the
  // result is bit for bit the serial one). The embedded default's batch slices lend their
  // threads: the update would otherwise leave one of two cores idle each step.
  void update_in_parts(RangeRunner runner) { runner_ = std::move(runner); }

  // "<param name>.<slot>" tensors plus "step" (a 0-d int64 tensor).
  NamedTensors state() const;
  // Restores state() output; throws CheckpointError-like std::runtime_error naming what is
  // missing or mis-shaped.
  void load_state(const NamedTensors& state);
  virtual std::string name() const = 0;

 protected:
  // Updates one parameter; `slots` is its state (created on first use).
  virtual void update(at::Tensor& param, const at::Tensor& grad,
                      std::map<std::string, at::Tensor>& slots, double weight_decay) = 0;
  // Called once per step before the per-parameter updates (LAMB's global norm).
  virtual void prepare_step() {}

  std::vector<ParamGroup> groups_;
  std::vector<std::map<std::string, at::Tensor>> slots_;  // per parameter, groups flattened
  double lr_;
  int64_t steps_ = 0;
  RangeRunner runner_;  // empty: updates on the calling thread
};

struct SgdOptions {
  double momentum = 0.9, dampening = 0;
  bool nesterov = false;
};
struct AdamOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  // true: AdamW's decoupled decay (p *= 1 - lr * wd); false: torch.optim.Adam's L2 term
  // (grad += wd * p, then the moments).
  bool decoupled = true;
};
struct LambOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-6;
  double max_grad_norm = 1.0;  // global gradient norm clip inside the step (0 = off)
  bool trust_clip = false;     // clip the trust ratio at 1
  bool always_adapt = false;   // apply the trust ratio even without weight decay
};

std::unique_ptr<Optimizer> make_sgd(std::vector<ParamGroup> groups, double lr, SgdOptions o);
std::unique_ptr<Optimizer> make_adamw(std::vector<ParamGroup> groups, double lr, AdamOptions o);
// torch.optim.Adam: AdamW's update with the weight decay as an L2 gradient term.
std::unique_ptr<Optimizer> make_adam(std::vector<ParamGroup> groups, double lr, AdamOptions o);
std::unique_ptr<Optimizer> make_lamb(std::vector<ParamGroup> groups, double lr, LambOptions o);

// optim.*, every key declared once (optimizer.cpp); a key an optimiser does not use is ignored.
struct OptimizerSettings {
  std::string name;  // sgd | adam | adamw | lamb
  double lr = 0;
  std::optional<int64_t> lr_base_batch;  // scale lr by global batch / this
  std::string lr_base_scale = "linear";  // linear | sqrt
  double weight_decay = 0;
  std::vector<std::string> no_weight_decay;  // name fragments kept out of weight decay
  bool decay_all = false;                    // decay norms and biases too
  std::optional<std::vector<double>> betas;  // adam, adamw, lamb
  std::optional<double> eps;                 // default 1e-8 (adam), 1e-6 (lamb)
  double momentum = 0.9, dampening = 0;      // sgd
  bool nesterov = false;
  double max_grad_norm = 1.0;  // lamb
  bool trust_clip = false, always_adapt = false;
};
OptimizerSettings read_optimizer_settings(const config::ConfigView& optim);

// The optimiser the `optim` node names (sgd | adamw | lamb), with its learning rate scaled by
// the global batch when optim.lr_base_batch is set (timm: lr = lr * batch / base, or its
// square root with lr_base_scale: sqrt).
std::unique_ptr<Optimizer> make_optimizer(const config::ConfigView& optim,
                                          const torch::nn::Module& model,
                                          const std::vector<std::string>& model_no_decay,
                                          int64_t global_batch);
// The base learning rate after batch scaling; `path` names the node in errors.
double scaled_lr(const OptimizerSettings& optim, int64_t global_batch, const std::string& path);
double scaled_lr(const config::ConfigView& optim, int64_t global_batch);

}  // namespace vitrine::train
