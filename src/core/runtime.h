// Process-wide runtime settings every `vitrine` command applies before doing work.
#pragma once

namespace vitrine {

// Sets libtorch's intra-op threads (0 = every core; libtorch defaults to 1 here) and keeps
// large blocks in the heap (glibc otherwise returns freed tensors to the OS and page-faults
// them back, halving matmul throughput: ../shared/notes/libtorch-on-debian.md).
void configure_runtime(int threads);

}  // namespace vitrine
