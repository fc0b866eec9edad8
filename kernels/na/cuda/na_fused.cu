// The fused CUDA kernels: one thread block per tile, running the block phases of
// na_fused_tiled.cuh with __syncthreads() between them (the CPU tests run the same phases).
#include <type_traits>
#include <unordered_map>

#include "na/cuda/na_dtype.cuh"
#include "na/cuda/na_fused_tiled.cuh"
#include "na/cuda/na_kernels.h"

namespace vitrine::cuda {
namespace {

template <typename State>
struct DeviceExec {
  State state;
  template <typename Fn>
  __device__ void each(const Fn& fn) {
    fn(static_cast<int>(threadIdx.x), state);
  }
  __device__ void sync() { __syncthreads(); }
};

template <class Kernel>
__global__ void __launch_bounds__(tiled::Tiling<Kernel::Tile::kDim>::kThreads)
    tiled_kernel(Kernel kernel, bool inverse, int64_t blocks_per_head) {
  extern __shared__ float shared[];
  const int64_t block = blockIdx.x;
  const tiled::TilePlan plan = tiled::plan_tile(kernel.g, Kernel::Tile::kTile, inverse,
                                                block / blocks_per_head, block % blocks_per_head);
  DeviceExec<typename Kernel::State> exec;
  tiled::run_block(kernel, plan, shared, exec);
}

template <int D>
tiled::SharedLayout layout(const Geometry& g, tiled::Pass pass) {
  return tiled::shared_layout(g, pass, D, tiled::Tiling<D>::kTile, tiled::Tiling<D>::kLanes);
}

template <class Kernel>
cudaError_t launch_tiled(const Kernel& kernel, bool inverse, cudaStream_t stream) {
  using Tile = typename Kernel::Tile;
  const int64_t per_head = tiled::blocks_per_head(kernel.g, Tile::kTile);
  const int64_t blocks = per_head * kernel.g.batch_heads();
  if (blocks <= 0) return cudaSuccess;
  if (blocks > 0x7fffffff) return cudaErrorInvalidConfiguration;
  const size_t bytes = static_cast<size_t>(kernel.s.total) * sizeof(float);
  if (bytes > 48 * 1024) {
    const cudaError_t e = cudaFuncSetAttribute(
        tiled_kernel<Kernel>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
    if (e != cudaSuccess) return e;
  }
  tiled_kernel<Kernel>
      <<<static_cast<unsigned>(blocks), Tile::kThreads, bytes, stream>>>(kernel, inverse, per_head);
  return cudaGetLastError();
}

size_t shared_bytes_needed(const Geometry& g) {
  size_t most = 0;
  dispatch_dim(g.dim, [&](auto dim) {
    constexpr int D = decltype(dim)::value;
    for (tiled::Pass pass :
         {tiled::Pass::kForward, tiled::Pass::kQueryGrad, tiled::Pass::kKeyGrad}) {
      const size_t bytes = static_cast<size_t>(layout<D>(g, pass).total) * sizeof(float);
      most = bytes > most ? bytes : most;
    }
    return cudaSuccess;
  });
  return most;
}

}  // namespace

bool fused_supported(DType dtype, const Geometry& g, int device) {
  if (dtype == DType::kFloat64) return false;
  if (g.dim != g.value_dim || (g.dim != 32 && g.dim != 64 && g.dim != 128)) return false;
  // The op layer asks on every call: query each device's limit once (per thread, no locks).
  thread_local std::unordered_map<int, int> limits;
  auto it = limits.find(device);
  if (it == limits.end()) {
    int limit = 0;
    if (cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) !=
        cudaSuccess)
      return false;
    it = limits.emplace(device, limit).first;
  }
  return shared_bytes_needed(g) <= static_cast<size_t>(it->second);
}

cudaError_t na_fused_forward(DType dtype, const Geometry& g, const void* q, const void* k,
                             const void* v, const void* rpb, float scale, void* out, float* lse,
                             cudaStream_t stream) {
  if (dtype == DType::kFloat64) return cudaErrorInvalidValue;
  return dispatch_tiled(dtype, g.dim, [&](auto tag, auto dim) {
    using T = decltype(tag);
    constexpr int D = decltype(dim)::value;
    tiled::Tensors<T> t = tiled::inputs<T>(q, k, v, rpb, scale);
    t.out_w = static_cast<T*>(out);
    t.lse_w = lse;
    return launch_tiled(tiled::ForwardKernel<T, D>{g, t, layout<D>(g, tiled::Pass::kForward)},
                        false, stream);
  });
}

cudaError_t na_fused_backward(DType dtype, const Geometry& g, const void* grad_out, const void* q,
                              const void* k, const void* v, const void* rpb, const void* out,
                              const float* lse, float scale, float* delta, void* grad_q,
                              void* grad_k, void* grad_v, float* grad_rpb, cudaStream_t stream) {
  if (dtype == DType::kFloat64) return cudaErrorInvalidValue;
  cudaError_t e = na_row_dot(dtype, g, grad_out, out, delta, stream);
  if (e == cudaSuccess && grad_rpb != nullptr)
    e = cudaMemsetAsync(grad_rpb, 0, sizeof(float) * g.heads * g.bias_size(), stream);
  if (e != cudaSuccess) return e;
  return dispatch_tiled(dtype, g.dim, [&](auto tag, auto dim) {
    using T = decltype(tag);
    constexpr int D = decltype(dim)::value;
    tiled::Tensors<T> t = tiled::inputs<T>(q, k, v, rpb, scale);
    t.out = static_cast<const T*>(out);
    t.grad_out = static_cast<const T*>(grad_out);
    t.lse = lse;
    t.delta = delta;
    t.grad_q = static_cast<T*>(grad_q);
    t.grad_k = static_cast<T*>(grad_k);
    t.grad_v = static_cast<T*>(grad_v);
    t.grad_rpb = grad_rpb;
    cudaError_t status = launch_tiled(
        tiled::QueryGradKernel<T, D>{g, t, layout<D>(g, tiled::Pass::kQueryGrad)}, false, stream);
    if (status != cudaSuccess) return status;
    return launch_tiled(tiled::KeyGradKernel<T, D>{g, t, layout<D>(g, tiled::Pass::kKeyGrad)}, true,
                        stream);
  });
}

}  // namespace vitrine::cuda
