// An exponential moving average of a model's weights (timm ModelEmaV3): after every
// optimizer update, ema = decay * ema + (1 - decay) * model for floating-point parameters
// and buffers; with warmup the decay ramps as 1 - (1 + step)^(-2/3), capped at `decay`.
#pragma once

#include <torch/nn/module.h>

#include <memory>

namespace vitrine::train {

class ModelEma {
 public:
  // `shadow` is a separate instance of the same architecture; it receives a copy of `model`.
  ModelEma(std::shared_ptr<torch::nn::Module> shadow, const torch::nn::Module& model, double decay,
           bool warmup);

  void update(const torch::nn::Module& model);
  double current_decay() const;
  int64_t updates() const { return updates_; }
  void set_updates(int64_t updates) { updates_ = updates; }
  torch::nn::Module& module() { return *shadow_; }
  std::shared_ptr<torch::nn::Module> shared() { return shadow_; }

 private:
  std::shared_ptr<torch::nn::Module> shadow_;
  double decay_;
  bool warmup_;
  int64_t updates_ = 0;
};

}  // namespace vitrine::train
