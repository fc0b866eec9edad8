// Peak CPU memory held by tensors, measured by wrapping libtorch's CPU allocator: every
// allocation and free passes through it, so benchmarks can report what an op really
// materialises (the attention matrix of a baseline, say) rather than process RSS.
#pragma once

#include <cstddef>

namespace vitrine {

class MemoryTracker {
 public:
  // Installs the tracking allocator (idempotent). Tensors allocated before keep their
  // original deleter and are simply not counted.
  static void install();
  static bool installed();
  static size_t current_bytes();
  static size_t peak_bytes();
  // Starts a new peak window at the current level.
  static void reset_peak();
};

}  // namespace vitrine
