#include "train/ema.h"

#include <ATen/ATen.h>

#include <cmath>
#include <stdexcept>

#include "models/checkpoint/state_dict.h"

namespace vitrine::train {

ModelEma::ModelEma(std::shared_ptr<torch::nn::Module> shadow, const torch::nn::Module& model,
                   double decay, bool warmup)
    : shadow_(std::move(shadow)), decay_(decay), warmup_(warmup) {
  if (!(decay >= 0 && decay < 1)) throw std::invalid_argument("EMA decay must be in [0, 1)");
  at::NoGradGuard no_grad;
  const auto source = models::checkpoint::state_dict_of(model);
  const auto target = models::checkpoint::state_dict_of(*shadow_);
  if (source.size() != target.size())
    throw std::invalid_argument("EMA model differs from the trained model");
  for (size_t i = 0; i < source.size(); ++i) target[i].second.copy_(source[i].second);
  for (auto& p : shadow_->parameters()) p.set_requires_grad(false);
  shadow_->eval();
}

double ModelEma::current_decay() const {
  if (!warmup_) return decay_;
  const double ramp = 1.0 - std::pow(1.0 + static_cast<double>(updates_), -2.0 / 3.0);
  return std::max(0.0, std::min(decay_, ramp));
}

void ModelEma::update(const torch::nn::Module& model) {
  at::NoGradGuard no_grad;
  const double decay = current_decay();
  const auto source = models::checkpoint::state_dict_of(model);
  const auto target = models::checkpoint::state_dict_of(*shadow_);
  for (size_t i = 0; i < source.size(); ++i) {
    at::Tensor dst = target[i].second;
    const at::Tensor& src = source[i].second;
    if (dst.is_floating_point())
      dst.lerp_(src.detach(), 1.0 - decay);
    else
      dst.copy_(src);
  }
  ++updates_;
}

}  // namespace vitrine::train
