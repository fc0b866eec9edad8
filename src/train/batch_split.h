// Data parallelism inside one process, for models too small for intra-op threading to pay
// (the embedded default: ~5 MFLOPs an image, where most ops are too small to parallelise
// and two threads per op ran slower than one). Each batch is cut into `parts` slices along
// dim 0; every slice runs forward and backward on its own thread (the caller's thread takes
// slice 0) against the same parameters, and the slices' gradients are summed into `.grad`
// in slice order, so the result does not depend on thread timing. Like DDP, the math is the
// full batch's except for layers that mix rows (BatchNorm statistics are per slice).
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace c10 {
class ThreadPool;
}

namespace vitrine::train {

class BatchSplit {
 public:
  explicit BatchSplit(int parts);
  ~BatchSplit();
  BatchSplit(const BatchSplit&) = delete;
  BatchSplit& operator=(const BatchSplit&) = delete;

  int parts() const { return parts_; }

  // Rows [first, first + count) of slice `part` when `rows` rows are cut into `parts` slices:
  // sizes differ by at most one, the larger slices first; slices past `rows` are empty.
  static std::pair<int64_t, int64_t> slice(int64_t rows, int parts, int part);

  // For each non-empty slice, on that slice's thread: loss = slice_loss(part, first, count)
  // and its gradients with respect to `params` (those that require grad); then adds them to
  // the params' gradients in slice order. An exception on any thread is rethrown here after
  // all threads finish.
  void forward_backward(
      int64_t rows, const std::vector<at::Tensor>& params,
      const std::function<at::Tensor(int part, int64_t first, int64_t count)>& slice_loss);

  // `forward` applied to each slice of `inputs` on that slice's thread (with the caller's
  // grad and inference modes), the outputs concatenated along dim 0 in slice order.
  at::Tensor forward(const at::Tensor& inputs,
                     const std::function<at::Tensor(const at::Tensor&)>& forward);

  // Cuts items of the given weights into at most `parts` consecutive ranges of about equal
  // total weight; returns the boundaries (first 0, last weights.size()).
  static std::vector<size_t> balanced_ranges(const std::vector<int64_t>& weights, int parts);

  // task(begin, end) for at most parts() consecutive ranges of about equal total weight
  // covering the items, each on a slice's thread (the slices' gradient sum, and the
  // optimizer's updates between steps: Optimizer::update_in_parts).
  void run_balanced(const std::vector<int64_t>& weights,
                    const std::function<void(size_t begin, size_t end)>& task);

 private:
  // Runs task(part) for part in [0, used): part 0 on the calling thread, the rest on the
  // workers; waits for all, then rethrows the first exception in part order.
  void run_parts(int used, const std::function<void(int part)>& task);

  int parts_;
  std::unique_ptr<c10::ThreadPool> workers_;
};

}  // namespace vitrine::train
