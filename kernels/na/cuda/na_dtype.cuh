// Maps the DType of na_kernels.h to storage and accumulator types for the kernels.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>
#include <utility>

#include "na/cuda/na_kernels.h"

namespace vitrine::cuda {

template <typename T>
struct AccumulatorOf {
  using type = float;
};
template <>
struct AccumulatorOf<double> {
  using type = double;
};

// Calls fn(T{}) with T the storage type of `dtype`.
template <typename Fn>
cudaError_t dispatch_dtype(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat32: return fn(float{});
    case DType::kFloat16: return fn(__half{});
    case DType::kBFloat16: return fn(__nv_bfloat16{});
    case DType::kFloat64: return fn(double{});
  }
  return cudaErrorInvalidValue;
}

// Calls fn(std::integral_constant<int, D>) for the supported head dims.
template <typename Fn>
cudaError_t dispatch_dim(int64_t dim, Fn&& fn) {
  switch (dim) {
    case 32: return fn(std::integral_constant<int, 32>{});
    case 64: return fn(std::integral_constant<int, 64>{});
    case 128: return fn(std::integral_constant<int, 128>{});
    default: return cudaErrorInvalidValue;
  }
}

// Calls fn(T{}, std::integral_constant<int, D>) for the tiled kernels' dtypes and head dims.
template <typename Fn>
cudaError_t dispatch_tiled(DType dtype, int64_t dim, Fn&& fn) {
  return dispatch_dtype(dtype, [&](auto tag) {
    if constexpr (std::is_same_v<decltype(tag), double>)
      return cudaErrorInvalidValue;
    else
      return dispatch_dim(dim, [&](auto d) { return fn(tag, d); });
  });
}

// Grid for a grid-stride loop over n elements.
inline unsigned grid_for(int64_t n, int threads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(blocks < (int64_t{1} << 20) ? (blocks > 0 ? blocks : 1)
                                                           : (int64_t{1} << 20));
}

}  // namespace vitrine::cuda
