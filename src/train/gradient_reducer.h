// DDP's overlapped gradient averaging, on any all-reduce: parameters are grouped into buckets
// in reverse order (gradients arrive roughly so; the first bucket small so that communication
// starts early), a post-hook on each parameter's gradient accumulator marks it ready as
// backward produces it, and a bucket whose gradients are all ready is flattened and handed to
// an asynchronous all-reduce while backward goes on. Buckets are launched strictly in order,
// so every rank issues the same collectives in the same sequence whatever order its
// gradients arrive in. finish(), after backward, launches what is left (a parameter that got
// no gradient this step contributes zeros, as DDP's find_unused_parameters), waits, and
// writes the means into the gradients.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace torch::autograd {
struct Node;
}

namespace vitrine::train {

class GradientReducer {
 public:
  // Starts summing `flat` over the ranks in place; the returned function waits for it.
  using AllReduce = std::function<std::function<void()>(at::Tensor& flat)>;

  GradientReducer(std::vector<at::Tensor> params, int64_t first_bucket_bytes, int64_t bucket_bytes,
                  int world_size, AllReduce all_reduce);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // The next backward reduces (the last micro-batch of an accumulation group); backwards
  // while disarmed only accumulate locally, like DDP's no_sync().
  void arm();
  // After the armed backward: the remaining buckets, the waits, the means.
  void finish();

  // Buckets as parameter indices, in launch order (for tests).
  const std::vector<std::vector<size_t>>& buckets() const { return buckets_; }
  // Buckets launched from hooks (while backward ran) in the last armed step.
  int launched_during_backward() const { return launched_in_backward_; }

 private:
  struct Pending {
    at::Tensor flat;
    std::function<void()> wait;
  };
  void on_ready(size_t param);
  void launch_ready_buckets();  // caller holds mutex_
  void launch(size_t bucket);

  std::vector<at::Tensor> params_;
  std::vector<std::vector<size_t>> buckets_;
  std::vector<size_t> bucket_of_;
  int world_size_;
  AllReduce all_reduce_;
  std::vector<std::shared_ptr<torch::autograd::Node>>
      accumulators_;  // kept alive: hooks live there

  std::mutex mutex_;
  bool armed_ = false;
  std::vector<int> missing_;  // per bucket: gradients not yet ready
  size_t next_launch_ = 0;
  std::vector<Pending> pending_;
  int launched_in_backward_ = 0;
};

}  // namespace vitrine::train
