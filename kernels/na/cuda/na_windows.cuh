// Window tables on the GPU from the shared index rules (src/attention/ops/na_index.h): the
// first brick of the CUDA kernels, and a check that the header compiles under nvcc.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace vitrine::cuda {

// For every position i < length of one axis: first[i] and count[i] of its window, and
// inverse_first[i] / inverse_count[i] of the queries that attend to it. Device pointers.
cudaError_t window_table(int64_t length, int64_t kernel, int64_t dilation, bool causal,
                         int64_t* first, int64_t* count, int64_t* inverse_first,
                         int64_t* inverse_count, cudaStream_t stream);

}  // namespace vitrine::cuda
