#include "na/common/na_index.h"
#include "na/cuda/na_windows.cuh"

namespace vitrine::cuda {
namespace {

__global__ void window_table_kernel(int64_t length, int64_t kernel, int64_t dilation, bool causal,
                                    int64_t* first, int64_t* count, int64_t* inverse_first,
                                    int64_t* inverse_count) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= length) return;
  const attention::na::Span w = attention::na::window(i, length, kernel, dilation, causal);
  const attention::na::Span inv =
      attention::na::inverse_window(i, length, kernel, dilation, causal);
  first[i] = w.first;
  count[i] = w.count;
  inverse_first[i] = inv.first;
  inverse_count[i] = inv.count;
}

}  // namespace

cudaError_t window_table(int64_t length, int64_t kernel, int64_t dilation, bool causal,
                         int64_t* first, int64_t* count, int64_t* inverse_first,
                         int64_t* inverse_count, cudaStream_t stream) {
  if (length <= 0) return cudaSuccess;
  const int threads = 256;
  const unsigned blocks = static_cast<unsigned>((length + threads - 1) / threads);
  window_table_kernel<<<blocks, threads, 0, stream>>>(length, kernel, dilation, causal, first,
                                                      count, inverse_first, inverse_count);
  return cudaGetLastError();
}

}  // namespace vitrine::cuda
