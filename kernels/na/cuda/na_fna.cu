// The tensor-core fused forward and backward on the GPU: one CTA of fna::kThreads per tile,
// running fna::forward_cta (na_fna_forward.cuh), fna::query_grad_cta and fna::key_grad_cta
// (na_fna_backward.cuh) with the device's barrier, quad shuffles, atomics and
// mma.sync.m16n8k16 (sm_80 and newer). The CPU tests run the same CTA code through
// tests/kernels/host_cta.h.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>
#include <unordered_map>

#include "na/cuda/na_dtype.cuh"
#include "na/cuda/na_fna_backward.cuh"
#include "na/cuda/na_fna_forward.cuh"
#include "na/cuda/na_kernels.h"

namespace vitrine::cuda {
namespace {

struct DeviceCtx {
  __device__ int thread() const { return static_cast<int>(threadIdx.x); }
  __device__ void sync() const { __syncthreads(); }
  __device__ float exp(float x) const { return __expf(x); }
  __device__ float log(float x) const { return __logf(x); }
  __device__ void atomic_add(float* at, float v) const { atomicAdd(at, v); }
  __device__ float quad_max(float v) const {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
  }
  __device__ float quad_sum(float v) const {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
  }
  template <typename E>
  __device__ void mma(float c[4], const uint32_t a[4], const uint32_t b[2]) const {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    if constexpr (std::is_same_v<E, __half>) {
      asm volatile(
          "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
          "{%8, %9}, {%0, %1, %2, %3};\n"
          : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
          : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    } else {
      static_assert(std::is_same_v<E, __nv_bfloat16>, "mma takes float16 or bfloat16");
      asm volatile(
          "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, "
          "%7}, {%8, %9}, {%0, %1, %2, %3};\n"
          : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
          : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
#else
    // fna_supported() refuses devices below compute capability 8.0.
    __trap();
#endif
  }
};

template <typename E, int D>
__global__ void __launch_bounds__(fna::kThreads)
    fna_forward_kernel(Geometry g, fna::ForwardArgs<E> args, fna::TileShape shape) {
  extern __shared__ __align__(16) unsigned char fna_shared[];
  DeviceCtx ctx;
  fna::forward_cta<E, D>(ctx, g, args, shape, static_cast<int64_t>(blockIdx.x),
                         reinterpret_cast<E*>(fna_shared));
}

template <typename E, int D>
__global__ void __launch_bounds__(fna::kThreads)
    fna_query_grad_kernel(Geometry g, fna::BackwardArgs<E> args, fna::TileShape shape) {
  extern __shared__ __align__(16) unsigned char fna_shared[];
  DeviceCtx ctx;
  fna::query_grad_cta<E, D>(ctx, g, args, shape, static_cast<int64_t>(blockIdx.x), fna_shared);
}

template <typename E, int D>
__global__ void __launch_bounds__(fna::kThreads)
    fna_key_grad_kernel(Geometry g, fna::BackwardArgs<E> args, fna::TileShape shape) {
  extern __shared__ __align__(16) unsigned char fna_shared[];
  DeviceCtx ctx;
  fna::key_grad_cta<E, D>(ctx, g, args, shape, static_cast<int64_t>(blockIdx.x), fna_shared);
}

template <typename E, int D>
constexpr size_t shared_bytes() {
  return fna::SharedTiles<D>::template bytes<E>();
}

// The most shared memory any of the kernels takes for `g` (2-byte types: the same for both).
size_t shared_bytes_for(const Geometry& g, bool backward, bool has_rpb) {
  auto most = [&](auto dim) {
    constexpr int D = decltype(dim)::value;
    size_t bytes = shared_bytes<__half, D>();
    if (backward) {
      const size_t query = fna::QueryGradTiles<D>::template bytes<__half>(g, has_rpb);
      const size_t key = fna::KeyGradTiles<D>::template bytes<__half>();
      bytes = query > key ? query : key;
    }
    return bytes;
  };
  return g.dim == 32   ? most(std::integral_constant<int, 32>{})
         : g.dim == 64 ? most(std::integral_constant<int, 64>{})
                       : most(std::integral_constant<int, 128>{});
}

struct DeviceFacts {
  int major = 0;
  int shared_limit = 0;
};

bool supported(DType dtype, const Geometry& g, int device, bool backward, bool has_rpb) {
  if (dtype != DType::kFloat16 && dtype != DType::kBFloat16) return false;
  if (!fna::serves(g)) return false;
  // Asked on every call: query each device once (per thread, no locks).
  thread_local std::unordered_map<int, DeviceFacts> facts;
  auto it = facts.find(device);
  if (it == facts.end()) {
    DeviceFacts f;
    if (cudaDeviceGetAttribute(&f.major, cudaDevAttrComputeCapabilityMajor, device) !=
            cudaSuccess ||
        cudaDeviceGetAttribute(&f.shared_limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) !=
            cudaSuccess)
      return false;
    it = facts.emplace(device, f).first;
  }
  return it->second.major >= 8 &&
         shared_bytes_for(g, backward, has_rpb) <= static_cast<size_t>(it->second.shared_limit);
}

// Launches `kernel` over `ctas` CTAs with `bytes` of dynamic shared memory.
template <class Kernel, class... Args>
cudaError_t launch(Kernel kernel, int64_t ctas, size_t bytes, cudaStream_t stream,
                   const Args&... args) {
  if (ctas <= 0) return cudaSuccess;
  if (ctas > 0x7fffffff) return cudaErrorInvalidConfiguration;
  if (bytes > 48 * 1024) {
    const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               static_cast<int>(bytes));
    if (e != cudaSuccess) return e;
  }
  kernel<<<static_cast<unsigned>(ctas), fna::kThreads, bytes, stream>>>(args...);
  return cudaGetLastError();
}

}  // namespace

bool fna_supported(DType dtype, const Geometry& g, int device) {
  return supported(dtype, g, device, false, false);
}

bool fna_backward_supported(DType dtype, const Geometry& g, bool has_rpb, int device) {
  return supported(dtype, g, device, true, has_rpb);
}

cudaError_t na_fna_forward(DType dtype, const Geometry& g, const void* q, const void* k,
                           const void* v, const void* rpb, float scale, void* out, float* lse,
                           cudaStream_t stream) {
  if (dtype != DType::kFloat16 && dtype != DType::kBFloat16) return cudaErrorInvalidValue;
  return dispatch_tiled(dtype, g.dim, [&](auto tag, auto dim) -> cudaError_t {
    using E = decltype(tag);
    constexpr int D = decltype(dim)::value;
    if constexpr (std::is_same_v<E, float>) {
      return cudaErrorInvalidValue;
    } else {
      const fna::ForwardArgs<E> args = fna::forward_args<E>(q, k, v, rpb, scale, out, lse);
      const fna::TileShape shape = fna::tile_shape(g);
      return launch(fna_forward_kernel<E, D>, fna::cta_count(g, shape), shared_bytes<E, D>(),
                    stream, g, args, shape);
    }
  });
}

cudaError_t na_fna_backward(DType dtype, const Geometry& g, const void* grad_out, const void* q,
                            const void* k, const void* v, const void* rpb, const void* out,
                            const float* lse, float scale, float* delta, void* grad_q, void* grad_k,
                            void* grad_v, float* grad_rpb, cudaStream_t stream) {
  if (dtype != DType::kFloat16 && dtype != DType::kBFloat16) return cudaErrorInvalidValue;
  cudaError_t e = na_row_dot(dtype, g, grad_out, out, delta, stream);
  if (e == cudaSuccess && rpb != nullptr && grad_rpb != nullptr)
    e = cudaMemsetAsync(grad_rpb, 0, sizeof(float) * g.heads * g.bias_size(), stream);
  if (e != cudaSuccess) return e;
  return dispatch_tiled(dtype, g.dim, [&](auto tag, auto dim) -> cudaError_t {
    using E = decltype(tag);
    constexpr int D = decltype(dim)::value;
    if constexpr (std::is_same_v<E, float>) {
      return cudaErrorInvalidValue;
    } else {
      const fna::BackwardArgs<E> args = fna::backward_args<E>(
          grad_out, q, k, v, rpb, lse, delta, scale, grad_q, grad_k, grad_v, grad_rpb);
      const fna::TileShape shape = fna::tile_shape(g);
      const int64_t ctas = fna::cta_count(g, shape);
      const cudaError_t status =
          launch(fna_query_grad_kernel<E, D>, ctas,
                 fna::QueryGradTiles<D>::template bytes<E>(g, args.grad_rpb != nullptr), stream, g,
                 args, shape);
      if (status != cudaSuccess) return status;
      return launch(fna_key_grad_kernel<E, D>, ctas, fna::KeyGradTiles<D>::template bytes<E>(),
                    stream, g, args, shape);
    }
  });
}

}  // namespace vitrine::cuda
