#include "train/optimizer.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/generated/variable_factories.h>

#include <array>
#include <cmath>
#include <stdexcept>

#include "config/option_table.h"
#include "core/error.h"

namespace vitrine::train {

std::vector<ParamGroup> weight_decay_groups(const torch::nn::Module& model, double weight_decay,
                                            const std::vector<std::string>& no_decay_keywords,
                                            bool decay_all) {
  ParamGroup decay{"decay", weight_decay, {}, {}};
  ParamGroup no_decay{"no_decay", 0.0, {}, {}};
  for (const auto& item : model.named_parameters(true)) {
    if (!item.value().requires_grad()) continue;
    const std::string& name = item.key();
    bool excluded =
        !decay_all && (item.value().dim() <= 1 ||
                       (name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0));
    for (const auto& keyword : no_decay_keywords)
      if (!decay_all && name.find(keyword) != std::string::npos) excluded = true;
    ParamGroup& group = excluded ? no_decay : decay;
    group.names.push_back(name);
    group.params.push_back(item.value());
  }
  std::vector<ParamGroup> groups;
  if (!no_decay.params.empty()) groups.push_back(std::move(no_decay));
  if (!decay.params.empty()) groups.push_back(std::move(decay));
  return groups;
}

Optimizer::Optimizer(std::vector<ParamGroup> groups, double lr)
    : groups_(std::move(groups)), lr_(lr) {
  size_t count = 0;
  for (const auto& g : groups_) count += g.params.size();
  slots_.resize(count);
}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params)
      if (p.grad().defined()) p.mutable_grad() = at::Tensor();
}

void Optimizer::step() {
  at::NoGradGuard no_grad;
  ++steps_;
  prepare_step();
  struct Item {
    at::Tensor* param;
    std::map<std::string, at::Tensor>* slots;
    double weight_decay;
  };
  std::vector<Item> items;
  std::vector<int64_t> sizes;
  size_t flat = 0;
  for (auto& g : groups_)
    for (auto& p : g.params) {
      auto& slots = slots_[flat++];
      if (!p.grad().defined()) continue;
      items.push_back({&p, &slots, g.weight_decay});
      sizes.push_back(p.numel());
    }
  const auto run_range = [&](size_t begin, size_t end) {
    at::NoGradGuard no_grad_here;  // grad mode is per thread
    for (size_t i = begin; i < end; ++i)
      update(*items[i].param, items[i].param->grad(), *items[i].slots, items[i].weight_decay);
  };
  if (!runner_ || items.size() < 2) return run_range(0, items.size());
  runner_(sizes, run_range);
}

NamedTensors Optimizer::state() const {
  NamedTensors out;
  out.emplace_back("step", at::scalar_tensor(steps_, at::kLong));
  size_t flat = 0;
  for (const auto& g : groups_)
    for (const auto& name : g.names) {
      for (const auto& [slot, tensor] : slots_[flat]) out.emplace_back(name + "." + slot, tensor);
      ++flat;
    }
  return out;
}

void Optimizer::load_state(const NamedTensors& state) {
  std::map<std::string, at::Tensor> by_name(state.begin(), state.end());
  auto step = by_name.find("step");
  if (step == by_name.end()) throw std::runtime_error("optimizer state has no 'step'");
  steps_ = step->second.item<int64_t>();
  size_t flat = 0;
  for (const auto& g : groups_)
    for (size_t i = 0; i < g.names.size(); ++i, ++flat) {
      slots_[flat].clear();
      const std::string prefix = g.names[i] + ".";
      for (auto it = by_name.lower_bound(prefix);
           it != by_name.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
        const std::string slot = it->first.substr(prefix.size());
        if (slot.find('.') != std::string::npos) continue;  // a deeper parameter's state
        if (!it->second.sizes().equals(g.params[i].sizes()) && it->second.dim() != 0)
          throw std::runtime_error("optimizer state '" + it->first + "' has shape " +
                                   std::to_string(it->second.dim()) +
                                   "-d not matching its parameter");
        slots_[flat][slot] = it->second.clone();
      }
    }
}

namespace {

// torch.optim.SGD.
class Sgd : public Optimizer {
 public:
  Sgd(std::vector<ParamGroup> groups, double lr, SgdOptions o)
      : Optimizer(std::move(groups), lr), o_(o) {}
  std::string name() const override { return "sgd"; }

 protected:
  void update(at::Tensor& p, const at::Tensor& grad, std::map<std::string, at::Tensor>& slots,
              double wd) override {
    at::Tensor d_p = wd != 0 ? grad.add(p, wd) : grad;
    if (o_.momentum != 0) {
      auto it = slots.find("momentum_buffer");
      at::Tensor buf;
      if (it == slots.end()) {
        buf = d_p.clone();
        slots["momentum_buffer"] = buf;
      } else {
        buf = it->second;
        buf.mul_(o_.momentum).add_(d_p, 1.0 - o_.dampening);
      }
      d_p = o_.nesterov ? d_p.add(buf, o_.momentum) : buf;
    }
    p.add_(d_p, -lr_);
  }

 private:
  SgdOptions o_;
};

// torch.optim.AdamW (decoupled weight decay, bias-corrected moments), or torch.optim.Adam
// (weight decay as an L2 term in the gradient) when not `decoupled`.
class AdamW : public Optimizer {
 public:
  AdamW(std::vector<ParamGroup> groups, double lr, AdamOptions o)
      : Optimizer(std::move(groups), lr), o_(o) {}
  std::string name() const override { return o_.decoupled ? "adamw" : "adam"; }

 protected:
  void update(at::Tensor& p, const at::Tensor& raw_grad, std::map<std::string, at::Tensor>& slots,
              double wd) override {
    if (!slots.count("exp_avg")) {
      slots["exp_avg"] = at::zeros_like(p);
      slots["exp_avg_sq"] = at::zeros_like(p);
    }
    at::Tensor& m = slots["exp_avg"];
    at::Tensor& v = slots["exp_avg_sq"];
    const double step = static_cast<double>(steps_);
    const double bias1 = 1.0 - std::pow(o_.beta1, step);
    const double bias2 = 1.0 - std::pow(o_.beta2, step);
    if (fused_float_update(p, raw_grad, m, v, wd, bias1, bias2)) return;
    const at::Tensor grad = o_.decoupled || wd == 0 ? raw_grad : raw_grad.add(p, wd);
    if (o_.decoupled) p.mul_(1.0 - lr_ * wd);
    m.lerp_(grad, 1.0 - o_.beta1);
    v.mul_(o_.beta2).addcmul_(grad, grad, 1.0 - o_.beta2);
    const at::Tensor denom = (v.sqrt() / std::sqrt(bias2)).add_(o_.eps);
    p.addcdiv_(m, denom, -lr_ / bias1);
  }

 private:
  // The update above in one pass over contiguous float32 CPU tensors, element by element the
  // same operations in the same order (float arithmetic, scalars rounded to float as ATen's
  // kernels do). The op sequence makes eight passes with a dispatch each per parameter: for
  // the embedded default's ~60 small parameters that was ~5% of a training step.
  bool fused_float_update(at::Tensor& p, const at::Tensor& grad, at::Tensor& m, at::Tensor& v,
                          double wd, double bias1, double bias2) const {
    const std::array<const at::Tensor*, 4> tensors{&p, &grad, &m, &v};
    for (const at::Tensor* t : tensors)
      if (!t->device().is_cpu() || t->scalar_type() != at::kFloat || !t->is_contiguous() ||
          t->numel() != p.numel())
        return false;
    const bool l2 = !o_.decoupled && wd != 0;
    const float decay = static_cast<float>(1.0 - lr_ * wd), l2_wd = static_cast<float>(wd);
    const float weight1 = static_cast<float>(1.0 - o_.beta1), beta2 = static_cast<float>(o_.beta2);
    const float weight2 = static_cast<float>(1.0 - o_.beta2);
    const bool lerp_low = weight1 < 0.5f;
    const float sqrt_bias2 = static_cast<float>(std::sqrt(bias2));
    const float eps = static_cast<float>(o_.eps), step_size = static_cast<float>(-lr_ / bias1);
    float* __restrict pp = p.data_ptr<float>();
    const float* __restrict gp = grad.data_ptr<float>();
    float* __restrict mp = m.data_ptr<float>();
    float* __restrict vp = v.data_ptr<float>();
    const int64_t n = p.numel();
    for (int64_t i = 0; i < n; ++i) {
      const float g = l2 ? gp[i] + l2_wd * pp[i] : gp[i];
      float param = o_.decoupled ? pp[i] * decay : pp[i];
      const float mean = lerp_low ? mp[i] + weight1 * (g - mp[i])  // ATen's lerp, both sides
                                  : g - (g - mp[i]) * (1.0f - weight1);
      const float square = vp[i] * beta2 + weight2 * g * g;
      const float denom = std::sqrt(square) / sqrt_bias2 + eps;
      param += step_size * mean / denom;  // addcdiv: (value * t1) / t2
      mp[i] = mean;
      vp[i] = square;
      pp[i] = param;
    }
    return true;
  }

  AdamOptions o_;
};

// timm's Lamb (Layer-wise Adaptive Moments, You et al. 2019), with its global gradient-norm
// clipping inside the step.
class Lamb : public Optimizer {
 public:
  Lamb(std::vector<ParamGroup> groups, double lr, LambOptions o)
      : Optimizer(std::move(groups), lr), o_(o) {}
  std::string name() const override { return "lamb"; }

 protected:
  void prepare_step() override {
    grad_divisor_ = 1.0;
    if (o_.max_grad_norm <= 0) return;
    double sum = 0;
    for (const auto& g : groups_)
      for (const auto& p : g.params)
        if (p.grad().defined()) sum += p.grad().pow(2).sum().item<double>();
    grad_divisor_ = std::max(std::sqrt(sum) / o_.max_grad_norm, 1.0);
  }

  void update(at::Tensor& p, const at::Tensor& raw_grad, std::map<std::string, at::Tensor>& slots,
              double wd) override {
    const at::Tensor grad = grad_divisor_ != 1.0 ? raw_grad / grad_divisor_ : raw_grad;
    if (!slots.count("exp_avg")) {
      slots["exp_avg"] = at::zeros_like(p);
      slots["exp_avg_sq"] = at::zeros_like(p);
    }
    at::Tensor& m = slots["exp_avg"];
    at::Tensor& v = slots["exp_avg_sq"];
    const double step = static_cast<double>(steps_);
    const double bias1 = 1.0 - std::pow(o_.beta1, step);
    const double bias2 = 1.0 - std::pow(o_.beta2, step);
    m.mul_(o_.beta1).add_(grad, 1.0 - o_.beta1);
    v.mul_(o_.beta2).addcmul_(grad, grad, 1.0 - o_.beta2);
    const at::Tensor denom = (v.sqrt() / std::sqrt(bias2)).add_(o_.eps);
    at::Tensor update = (m / bias1).div_(denom);
    if (wd != 0) update.add_(p, wd);
    if (wd != 0 || o_.always_adapt) {
      const double w_norm = p.norm().item<double>();
      const double g_norm = update.norm().item<double>();
      double trust = (w_norm > 0 && g_norm > 0) ? w_norm / g_norm : 1.0;
      if (o_.trust_clip) trust = std::min(trust, 1.0);
      update.mul_(trust);
    }
    p.add_(update, -lr_);
  }

 private:
  LambOptions o_;
  double grad_divisor_ = 1.0;
};

}  // namespace

std::unique_ptr<Optimizer> make_sgd(std::vector<ParamGroup> groups, double lr, SgdOptions o) {
  return std::make_unique<Sgd>(std::move(groups), lr, o);
}
std::unique_ptr<Optimizer> make_adamw(std::vector<ParamGroup> groups, double lr, AdamOptions o) {
  return std::make_unique<AdamW>(std::move(groups), lr, o);
}
std::unique_ptr<Optimizer> make_adam(std::vector<ParamGroup> groups, double lr, AdamOptions o) {
  o.decoupled = false;
  return std::make_unique<AdamW>(std::move(groups), lr, o);
}
std::unique_ptr<Optimizer> make_lamb(std::vector<ParamGroup> groups, double lr, LambOptions o) {
  return std::make_unique<Lamb>(std::move(groups), lr, o);
}

OptimizerSettings read_optimizer_settings(const config::ConfigView& optim) {
  using S = OptimizerSettings;
  static const auto table = config::OptionTable<S>()
                                .field("name", &S::name)
                                .field("lr", &S::lr)
                                .required()
                                .field("lr_base_batch", &S::lr_base_batch)
                                .field("lr_base_scale", &S::lr_base_scale)
                                .field("weight_decay", &S::weight_decay)
                                .field("no_weight_decay", &S::no_weight_decay)
                                .field("decay_all", &S::decay_all)
                                .field("betas", &S::betas)
                                .field("eps", &S::eps)
                                .field("momentum", &S::momentum)
                                .field("dampening", &S::dampening)
                                .field("nesterov", &S::nesterov)
                                .field("max_grad_norm", &S::max_grad_norm)
                                .field("trust_clip", &S::trust_clip)
                                .field("always_adapt", &S::always_adapt);
  return table.apply(optim, S());
}

double scaled_lr(const OptimizerSettings& s, int64_t global_batch, const std::string& path) {
  if (!(s.lr > 0) || !std::isfinite(s.lr))
    throw ConfigError(path + ".lr must be a positive finite number, got " + std::to_string(s.lr));
  if (!s.lr_base_batch) return s.lr;
  if (*s.lr_base_batch < 1) throw ConfigError(path + ".lr_base_batch must be >= 1");
  const double ratio = static_cast<double>(global_batch) / static_cast<double>(*s.lr_base_batch);
  if (s.lr_base_scale == "linear") return s.lr * ratio;
  if (s.lr_base_scale == "sqrt") return s.lr * std::sqrt(ratio);
  throw ConfigError(path + ".lr_base_scale must be linear or sqrt, got '" + s.lr_base_scale + "'");
}

double scaled_lr(const config::ConfigView& optim, int64_t global_batch) {
  return scaled_lr(read_optimizer_settings(optim), global_batch, optim.path());
}

std::unique_ptr<Optimizer> make_optimizer(const config::ConfigView& optim,
                                          const torch::nn::Module& model,
                                          const std::vector<std::string>& model_no_decay,
                                          int64_t global_batch) {
  const OptimizerSettings s = read_optimizer_settings(optim);
  if (s.name.empty()) config::throw_missing_key(optim, "name");
  const double lr = scaled_lr(s, global_batch, optim.path());
  std::vector<std::string> keywords = model_no_decay;
  keywords.insert(keywords.end(), s.no_weight_decay.begin(), s.no_weight_decay.end());
  // decay_all: every parameter decays, norms and biases included (torch's and mmdetection's
  // default); otherwise timm's rule leaves 1-D parameters, biases and the keywords out.
  auto groups = weight_decay_groups(model, s.weight_decay, keywords, s.decay_all);
  auto betas = [&]() -> std::pair<double, double> {
    if (!s.betas) return {0.9, 0.999};
    if (s.betas->size() != 2) throw ConfigError(optim.path() + ".betas must be [beta1, beta2]");
    return {(*s.betas)[0], (*s.betas)[1]};
  };
  if (s.name == "sgd") {
    SgdOptions o;
    o.momentum = s.momentum;
    o.nesterov = s.nesterov;
    o.dampening = s.dampening;
    if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
      throw ConfigError(optim.path() + ": Nesterov momentum needs momentum > 0 and dampening 0");
    return make_sgd(std::move(groups), lr, o);
  }
  if (s.name == "adamw" || s.name == "adam") {
    AdamOptions o;
    std::tie(o.beta1, o.beta2) = betas();
    o.eps = s.eps.value_or(1e-8);
    return s.name == "adamw" ? make_adamw(std::move(groups), lr, o)
                             : make_adam(std::move(groups), lr, o);
  }
  if (s.name == "lamb") {
    LambOptions o;
    std::tie(o.beta1, o.beta2) = betas();
    o.eps = s.eps.value_or(1e-6);
    o.max_grad_norm = s.max_grad_norm;
    o.trust_clip = s.trust_clip;
    o.always_adapt = s.always_adapt;
    return make_lamb(std::move(groups), lr, o);
  }
  throw ConfigError(optim.path() + ".name must be sgd, adam, adamw or lamb, got '" + s.name + "'");
}

}  // namespace vitrine::train
