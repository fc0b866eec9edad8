// Process-wide runtime settings every `vitrine` command applies before doing work.
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace vitrine {

// Sets libtorch's intra-op threads (0 = every core, divided among `concurrent` threads that
// run ops at the same time, e.g. batch slices; libtorch defaults to 1 here) and keeps large
// blocks in the heap (glibc otherwise returns freed tensors to the OS and page-faults them
// back, halving matmul throughput: ../shared/notes/libtorch-on-debian.md).
void configure_runtime(int threads, int concurrent = 1);

// "cpu", "cuda" or "cuda:N"; ConfigError when CUDA is asked for but this libtorch has none.
c10::Device parse_device(const std::string& name);

}  // namespace vitrine
