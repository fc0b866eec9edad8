#include "core/runtime.h"

#include <ATen/Parallel.h>
#include <malloc.h>

#include <thread>

namespace vitrine {

void configure_runtime(int threads) {
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  at::set_num_threads(threads > 0 ? threads : (cores > 0 ? cores : 1));
}

}  // namespace vitrine
