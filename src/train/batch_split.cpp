#include "train/batch_split.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <c10/core/thread_pool.h>
#include <torch/csrc/autograd/autograd.h>

#include <exception>
#include <stdexcept>
#include <string>

namespace vitrine::train {

BatchSplit::BatchSplit(int parts) : parts_(parts) {
  if (parts < 1)
    throw std::invalid_argument("batch split needs at least one part, got " +
                                std::to_string(parts));
  if (parts > 1) workers_ = std::make_unique<c10::ThreadPool>(parts - 1);
}

BatchSplit::~BatchSplit() = default;

std::pair<int64_t, int64_t> BatchSplit::slice(int64_t rows, int parts, int part) {
  const int64_t base = rows / parts, extra = rows % parts;
  const int64_t count = base + (part < extra ? 1 : 0);
  const int64_t first = part * base + std::min<int64_t>(part, extra);
  return {first, count};
}

void BatchSplit::run_parts(int used, const std::function<void(int part)>& task) {
  std::vector<std::exception_ptr> errors(used);
  auto run_part = [&](int part) {
    try {
      task(part);
    } catch (...) {
      errors[part] = std::current_exception();
    }
  };
  for (int part = 1; part < used; ++part)
    workers_->run([&, part] {
      // Pool threads start with OpenMP's default team size; use the configured count.
      at::init_num_threads();
      run_part(part);
    });
  run_part(0);
  if (used > 1) workers_->waitWorkComplete();
  for (const std::exception_ptr& error : errors)
    if (error) std::rethrow_exception(error);
}

void BatchSplit::forward_backward(
    int64_t rows, const std::vector<at::Tensor>& params,
    const std::function<at::Tensor(int part, int64_t first, int64_t count)>& slice_loss) {
  std::vector<at::Tensor> trainable;
  for (const at::Tensor& p : params)
    if (p.requires_grad()) trainable.push_back(p);

  const int used = static_cast<int>(std::min<int64_t>(parts_, rows));
  std::vector<std::vector<at::Tensor>> grads(used);
  run_parts(used, [&](int part) {
    const auto [first, count] = slice(rows, parts_, part);
    const at::Tensor loss = slice_loss(part, first, count);
    grads[part] = torch::autograd::grad({loss}, trainable, {}, /*retain_graph=*/false,
                                        /*create_graph=*/false, /*allow_unused=*/true);
  });

  // Summed in slice order: the same bits however the threads were scheduled. The parameters
  // are shared out among the slices' threads in ranges of about equal size.
  std::vector<int64_t> sizes;
  for (const at::Tensor& p : trainable) sizes.push_back(p.numel());
  run_balanced(sizes, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      at::Tensor& grad = trainable[i].mutable_grad();
      for (int part = 0; part < used; ++part) {
        const at::Tensor& g = grads[part][i];
        if (!g.defined()) continue;
        if (grad.defined())
          grad.add_(g);
        else
          grad = at::empty_like(trainable[i]).copy_(g);
      }
    }
  });
}

std::vector<size_t> BatchSplit::balanced_ranges(const std::vector<int64_t>& weights, int parts) {
  std::vector<double> prefix{0.0};
  for (int64_t w : weights) prefix.push_back(prefix.back() + static_cast<double>(w));
  std::vector<size_t> cuts{0};
  for (int k = 1; k < parts; ++k) {
    const double target = prefix.back() * k / parts;
    // The first boundary at or past the target, or the one before it when that is closer.
    size_t i = cuts.back() + 1;
    while (i < weights.size() && prefix[i] < target) ++i;
    if (i - 1 > cuts.back() && target - prefix[i - 1] < prefix[i] - target) --i;
    if (i >= weights.size()) break;  // the rest is one range
    cuts.push_back(i);
  }
  cuts.push_back(weights.size());
  return cuts;
}

void BatchSplit::run_balanced(const std::vector<int64_t>& weights,
                              const std::function<void(size_t begin, size_t end)>& task) {
  if (weights.empty()) return;
  const std::vector<size_t> cuts = balanced_ranges(weights, parts_);
  run_parts(static_cast<int>(cuts.size()) - 1,
            [&](int range) { task(cuts[static_cast<size_t>(range)], cuts[range + 1u]); });
}

at::Tensor BatchSplit::forward(const at::Tensor& inputs,
                               const std::function<at::Tensor(const at::Tensor&)>& forward) {
  const int64_t rows = inputs.size(0);
  const int used = static_cast<int>(std::min<int64_t>(parts_, rows));
  if (used <= 1) return forward(inputs);
  const bool grad_enabled = at::GradMode::is_enabled();
  const bool inference = c10::InferenceMode::is_enabled();
  std::vector<at::Tensor> outputs(used);
  run_parts(used, [&](int part) {
    // Grad and inference modes are per thread: give the workers the caller's.
    c10::InferenceMode inference_mode(inference);
    at::AutoGradMode grad_mode(grad_enabled);
    const auto [first, count] = slice(rows, parts_, part);
    outputs[part] = forward(inputs.narrow(0, first, count));
  });
  return at::cat(outputs, 0);
}

}  // namespace vitrine::train
