// Queries the CUDA runtime without torch (so it also works in the GPU self-test).
#pragma once

#include <string>

namespace vitrine::cuda {

// Number of visible CUDA devices; 0 when there is no driver or no GPU.
int device_count();
// "NVIDIA H100 80GB HBM3 (sm_90)".
std::string device_name(int device);

}  // namespace vitrine::cuda
