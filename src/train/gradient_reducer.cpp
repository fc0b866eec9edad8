#include "train/gradient_reducer.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <stdexcept>

namespace vitrine::train {
namespace {

// Runs after a parameter's AccumulateGrad node: the gradient of this backward is in .grad.
class ReadyHook : public torch::autograd::FunctionPostHook {
 public:
  ReadyHook(std::function<void()> ready) : ready_(std::move(ready)) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list&) override {
    ready_();
    return outputs;
  }

 private:
  std::function<void()> ready_;
};

}  // namespace

GradientReducer::GradientReducer(std::vector<at::Tensor> params, int64_t first_bucket_bytes,
                                 int64_t bucket_bytes, int world_size, AllReduce all_reduce)
    : params_(std::move(params)), world_size_(world_size), all_reduce_(std::move(all_reduce)) {
  // Reverse order, one dtype per bucket, the first bucket capped lower (DDP's layout).
  bucket_of_.assign(params_.size(), 0);
  int64_t bytes = 0;
  for (size_t i = params_.size(); i-- > 0;) {
    const at::Tensor& p = params_[i];
    if (!p.requires_grad())
      throw std::invalid_argument("GradientReducer: parameter " + std::to_string(i) +
                                  " does not require gradients");
    const int64_t cap = buckets_.size() <= 1 ? first_bucket_bytes : bucket_bytes;
    const bool new_bucket = buckets_.empty() || bytes >= cap ||
                            params_[buckets_.back().front()].scalar_type() != p.scalar_type();
    if (new_bucket) {
      buckets_.emplace_back();
      bytes = 0;
    }
    buckets_.back().push_back(i);
    bucket_of_[i] = buckets_.size() - 1;
    bytes += p.numel() * static_cast<int64_t>(p.element_size());
  }
  missing_.assign(buckets_.size(), 0);
  for (size_t i = 0; i < params_.size(); ++i) {
    std::shared_ptr<torch::autograd::Node> accumulator =
        torch::autograd::impl::grad_accumulator(params_[i]);
    accumulator->add_post_hook(std::make_unique<ReadyHook>([this, i] { on_ready(i); }));
    accumulators_.push_back(std::move(accumulator));
  }
}

GradientReducer::~GradientReducer() = default;

void GradientReducer::arm() {
  std::lock_guard<std::mutex> lock(mutex_);
  armed_ = true;
  next_launch_ = 0;
  pending_.clear();
  launched_in_backward_ = 0;
  for (size_t b = 0; b < buckets_.size(); ++b) missing_[b] = static_cast<int>(buckets_[b].size());
}

void GradientReducer::on_ready(size_t param) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!armed_) return;
  --missing_[bucket_of_[param]];
  const size_t before = next_launch_;
  launch_ready_buckets();
  launched_in_backward_ += static_cast<int>(next_launch_ - before);
}

void GradientReducer::launch_ready_buckets() {
  while (next_launch_ < buckets_.size() && missing_[next_launch_] == 0) launch(next_launch_++);
}

void GradientReducer::launch(size_t bucket) {
  std::vector<at::Tensor> grads;
  for (size_t i : buckets_[bucket]) {
    const at::Tensor& p = params_[i];
    grads.push_back(p.grad().defined() ? p.grad() : at::zeros_like(p));
  }
  Pending pending;
  // Divided before the sum, as DDP: the means come back without another pass.
  pending.flat = at::flatten_dense_tensors(grads).div_(static_cast<double>(world_size_));
  pending.wait = all_reduce_(pending.flat);
  pending_.push_back(std::move(pending));
}

void GradientReducer::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!armed_) return;
  armed_ = false;
  // Buckets with parameters that got no gradient this step: launched now, in order.
  while (next_launch_ < buckets_.size()) launch(next_launch_++);
  for (size_t b = 0; b < buckets_.size(); ++b) {
    pending_[b].wait();
    std::vector<at::Tensor> members;
    for (size_t i : buckets_[b]) members.push_back(params_[i]);
    const std::vector<at::Tensor> means = at::unflatten_dense_tensors(pending_[b].flat, members);
    for (size_t k = 0; k < members.size(); ++k) {
      at::Tensor& p = params_[buckets_[b][k]];
      if (p.grad().defined())
        p.mutable_grad().copy_(means[k]);
      else
        p.mutable_grad() = means[k].clone();
    }
  }
  pending_.clear();
}

}  // namespace vitrine::train
