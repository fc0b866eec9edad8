// Mixed precision for a forward pass: while an AutocastScope lives, eligible ops run in
// bfloat16 (CPU or CUDA) or float16 (CUDA), as torch.autocast does; it restores the previous
// state when it ends.
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace vitrine::train {

class AutocastScope {
 public:
  // `amp`: "" (does nothing), "bf16" or "fp16" (trainer.amp).
  AutocastScope(const std::string& amp, const c10::Device& device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_, cuda_ = false, previous_ = false;
};

}  // namespace vitrine::train
