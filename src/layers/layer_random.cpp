#include "layers/layer_random.h"

#include <ATen/ATen.h>

#include <utility>

namespace vitrine::layers {
namespace {
thread_local c10::optional<at::Generator> current_generator;
}

c10::optional<at::Generator> layer_generator() {
  return current_generator;
}

at::Tensor keep_mask(at::IntArrayRef shape, const at::TensorOptions& options, double keep) {
  return at::empty(shape, options).bernoulli_(keep, layer_generator()).div_(keep);
}

LayerGeneratorScope::LayerGeneratorScope(at::Generator generator)
    : previous_(std::exchange(current_generator, std::move(generator))) {}

LayerGeneratorScope::~LayerGeneratorScope() {
  current_generator = std::move(previous_);
}

}  // namespace vitrine::layers
