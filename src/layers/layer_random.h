// Where stochastic layers (dropout, drop path) draw their random numbers. By default that is
// torch's global generator. A thread that runs one slice of a split batch installs its own
// seeded generator with LayerGeneratorScope, so the draws of each slice depend only on the
// seed and the slice, never on how the threads were scheduled.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

namespace vitrine::layers {

// The generator stochastic layers on this thread should use; nullopt means torch's default.
c10::optional<at::Generator> layer_generator();

// A dropout mask of `shape`: 1/keep with probability `keep`, else 0, drawn from
// layer_generator().
at::Tensor keep_mask(at::IntArrayRef shape, const at::TensorOptions& options, double keep);

class LayerGeneratorScope {
 public:
  explicit LayerGeneratorScope(at::Generator generator);
  ~LayerGeneratorScope();
  LayerGeneratorScope(const LayerGeneratorScope&) = delete;
  LayerGeneratorScope& operator=(const LayerGeneratorScope&) = delete;

 private:
  c10::optional<at::Generator> previous_;
};

}  // namespace vitrine::layers
