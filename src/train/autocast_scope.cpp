#include "train/autocast_scope.h"

#include <ATen/autocast_mode.h>

namespace vitrine::train {

AutocastScope::AutocastScope(const std::string& amp, const c10::Device& device)
    : active_(!amp.empty()) {
  if (!active_) return;
  const at::ScalarType dtype = amp == "fp16" ? at::kHalf : at::kBFloat16;
  cuda_ = device.is_cuda();
  if (cuda_) {
    previous_ = at::autocast::is_enabled();
    at::autocast::set_enabled(true);
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    previous_ = at::autocast::is_cpu_enabled();
    at::autocast::set_cpu_enabled(true);
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  if (cuda_)
    at::autocast::set_enabled(previous_);
  else
    at::autocast::set_cpu_enabled(previous_);
}

}  // namespace vitrine::train
