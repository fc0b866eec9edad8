#include "models/layers/layer_random.h"

#include <utility>

namespace vitrine::models {
namespace {
thread_local c10::optional<at::Generator> current_generator;
}

c10::optional<at::Generator> layer_generator() {
  return current_generator;
}

LayerGeneratorScope::LayerGeneratorScope(at::Generator generator)
    : previous_(std::exchange(current_generator, std::move(generator))) {}

LayerGeneratorScope::~LayerGeneratorScope() {
  current_generator = std::move(previous_);
}

}  // namespace vitrine::models
