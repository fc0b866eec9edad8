// CUDA runtime facts for `vitrine bench` and GPU test skips; torch-free by design (see
// DESIGN.md: keep .cu files free of torch headers).
#include <cuda_runtime.h>

#include "na/cuda/runtime_info.h"

namespace vitrine::cuda {

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) return 0;
  return count;
}

std::string device_name(int device) {
  cudaDeviceProp props{};
  if (cudaGetDeviceProperties(&props, device) != cudaSuccess) return "unknown";
  return std::string(props.name) + " (sm_" + std::to_string(props.major) +
         std::to_string(props.minor) + ")";
}

}  // namespace vitrine::cuda
