#include "core/runtime.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <malloc.h>

#include <algorithm>
#include <thread>

#include "core/error.h"

namespace vitrine {

void configure_runtime(int threads, int concurrent) {
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  const int count = threads > 0 ? threads : std::max(1, cores / std::max(1, concurrent));
  at::set_num_threads(count);
  // OpenBLAS keeps its own thread pool, which at::set_num_threads does not reach: left at
  // every core, its idle workers spin in sched_yield and took a third of the CPU time of a
  // one-thread training run (perf). Found at run time, so other BLAS builds still link.
  using SetThreads = void (*)(int);
  if (auto set_blas_threads =
          reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set_blas_threads(count);
}

c10::Device parse_device(const std::string& name) {
  if (name == "cpu") return c10::kCPU;
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    if (!at::hasCUDA())
      throw ConfigError("device=" + name +
                        " but this libtorch has no CUDA support (or no GPU is visible); use "
                        "device=cpu");
    return c10::Device(name);
  }
  throw ConfigError("device must be cpu or cuda[:N], got '" + name + "'");
}

}  // namespace vitrine
