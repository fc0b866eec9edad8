#include "train/batch_split.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <c10/core/thread_pool.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <string>

#include "train/optimizer.h"

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
  if (trainable.empty()) return;
  std::vector<int64_t> sizes;
  for (const at::Tensor& p : trainable) sizes.push_back(p.numel());
  const std::vector<size_t> cuts = balanced_ranges(sizes, used);
  run_parts(static_cast<int>(cuts.size()) - 1, [&](int range) {
    for (size_t i = cuts[static_cast<size_t>(range)]; i < cuts[range + 1u]; ++i) {
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

void BatchSplit::run_in_parts(int parts, const std::function<void(int part)>& task) {
  run_parts(std::max(1, std::min(parts, parts_)), task);
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
