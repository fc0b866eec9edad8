// A host stand-in for the GPU, to test the GPU self-test itself on machines without one: the
// entry points of cuda/na_kernels.h executed on the CPU (the same element functions, and the
// tiled kernels' blocks phase by phase, grid by grid as na_fused.cu launches them), and the
// few CUDA runtime calls the self-test makes, over host memory. Linked instead of
// vitrine_cuda and cudart into `vitrine_cuda_selftest_on_host`; it shows that the
// self-test's reference, tolerances and float16/bfloat16 handling hold, so that a failure on
// a real GPU points at the GPU.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "host_cta.h"
#include "na/cuda/na_dtype.cuh"
#include "na/cuda/na_fna_backward.cuh"
#include "na/cuda/na_fna_forward.cuh"
#include "na/cuda/na_fused_tiled.cuh"
#include "na/cuda/na_kernels.h"
#include "na/cuda/na_naive_elements.cuh"
#include "na/cuda/runtime_info.h"

// ---------------------------------------------------------------- CUDA runtime over host memory

extern "C" {
cudaError_t cudaMalloc(void** ptr, size_t size) {
  *ptr = std::malloc(size);
  return *ptr != nullptr ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaFree(void* ptr) {
  std::free(ptr);
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind) {
  std::memcpy(dst, src, count);
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize(void) {
  return cudaSuccess;
}
const char* cudaGetErrorString(cudaError_t) {
  return "host stand-in error";
}
}

namespace vitrine::cuda {

int device_count() {
  return 1;
}
std::string device_name(int) {
  return "host stand-in (CPU)";
}

namespace {

template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;

template <typename T, typename Fn>
void each_element(int64_t n, void* out, const Fn& fn) {
  T* o = static_cast<T*>(out);
  for (int64_t i = 0; i < n; ++i) o[i] = static_cast<T>(fn(i));
}

template <typename T>
const T* in(const void* p) {
  return static_cast<const T*>(p);
}

template <class Kernel>
void run_grid(const Kernel& kernel, bool inverse) {
  using Tile = typename Kernel::Tile;
  const int64_t per_head = tiled::blocks_per_head(kernel.g, Tile::kTile);
  std::vector<float> shared(static_cast<size_t>(kernel.s.total));
  for (int64_t block = 0; block < per_head * kernel.g.batch_heads(); ++block) {
    const tiled::TilePlan plan =
        tiled::plan_tile(kernel.g, Tile::kTile, inverse, block / per_head, block % per_head);
    tiled::HostExec<typename Kernel::State> exec(Tile::kThreads);
    tiled::run_block(kernel, plan, shared.data(), exec);
  }
}

// Every CTA of a grid of `ctas`, in order, each as a block of fibers (host_cta.h) over `bytes`
// of raw, 16-byte aligned shared memory that starts as NaN bytes, as a CTA finds it on a GPU:
// not zero, not the previous CTA's; a read before a write shows in the outputs.
template <class Body>
void run_ctas(int64_t ctas, size_t bytes, const Body& body) {
  std::vector<float4> raw((bytes + 15) / 16);
  auto* smem = reinterpret_cast<unsigned char*>(raw.data());
  vitrine::testing::HostCta cta(fna::kThreads);
  for (int64_t c = 0; c < ctas; ++c) {
    std::memset(smem, 0xff, raw.size() * sizeof(float4));
    cta.run([&](auto& ctx) { body(ctx, c, smem); });
  }
}

template <int D>
tiled::SharedLayout layout(const Geometry& g, tiled::Pass pass) {
  return tiled::shared_layout(g, pass, D, tiled::Tiling<D>::kTile, tiled::Tiling<D>::kLanes);
}

}  // namespace

cudaError_t na_qk(DType dtype, const Geometry& g, const void* q, const void* k, const void* rpb,
                  void* attn, cudaStream_t) {
  return dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    each_element<T>(g.batch_heads() * g.tokens() * g.window_size(), attn, [&](int64_t i) {
      return naive::qk<Acc<T>>(g, in<T>(q), in<T>(k), in<T>(rpb), i);
    });
    return cudaSuccess;
  });
}

cudaError_t na_av(DType dtype, const Geometry& g, const void* attn, const void* v, void* out,
                  cudaStream_t) {
  return dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    each_element<T>(g.batch_heads() * g.tokens() * g.value_dim, out,
                    [&](int64_t i) { return naive::av<Acc<T>>(g, in<T>(attn), in<T>(v), i); });
    return cudaSuccess;
  });
}

cudaError_t na_qk_backward(DType dtype, const Geometry& g, const void* grad_attn, const void* q,
                           const void* k, void* grad_q, void* grad_k, void* grad_rpb,
                           cudaStream_t) {
  return dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    const int64_t n = g.batch_heads() * g.tokens() * g.dim;
    each_element<T>(n, grad_q, [&](int64_t i) {
      return naive::gather_grad<Acc<T>>(g, in<T>(grad_attn), in<T>(k), g.dim, i);
    });
    each_element<T>(n, grad_k, [&](int64_t i) {
      return naive::scatter_grad<Acc<T>>(g, in<T>(grad_attn), in<T>(q), g.dim, i);
    });
    if (grad_rpb != nullptr) {
      Acc<T>* sum = static_cast<Acc<T>*>(grad_rpb);
      std::fill(sum, sum + g.heads * g.bias_size(), Acc<T>(0));
      for (int64_t i = 0; i < g.batch_heads() * g.tokens() * g.window_size(); ++i) {
        int64_t cell;
        Acc<T> value;
        if (naive::bias_grad_term(g, in<T>(grad_attn), i, cell, value)) sum[cell] += value;
      }
    }
    return cudaSuccess;
  });
}

cudaError_t na_av_backward(DType dtype, const Geometry& g, const void* grad_out, const void* attn,
                           const void* v, void* grad_attn, void* grad_v, cudaStream_t) {
  return dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    each_element<T>(g.batch_heads() * g.tokens() * g.window_size(), grad_attn, [&](int64_t i) {
      return naive::attn_grad<Acc<T>>(g, in<T>(grad_out), in<T>(v), i);
    });
    each_element<T>(g.batch_heads() * g.tokens() * g.value_dim, grad_v, [&](int64_t i) {
      return naive::scatter_grad<Acc<T>>(g, in<T>(attn), in<T>(grad_out), g.value_dim, i);
    });
    return cudaSuccess;
  });
}

cudaError_t na_row_dot(DType dtype, const Geometry& g, const void* grad_out, const void* out,
                       float* delta, cudaStream_t) {
  return dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    each_element<float>(g.batch_heads() * g.tokens(), delta, [&](int64_t i) {
      return naive::row_dot<float>(g, in<T>(grad_out), in<T>(out), i);
    });
    return cudaSuccess;
  });
}

bool fused_supported(DType dtype, const Geometry& g, int) {
  return dtype != DType::kFloat64 && g.dim == g.value_dim &&
         (g.dim == 32 || g.dim == 64 || g.dim == 128);
}

cudaError_t na_fused_forward(DType dtype, const Geometry& g, const void* q, const void* k,
                             const void* v, const void* rpb, float scale, void* out, float* lse,
                             cudaStream_t) {
  return dispatch_tiled(dtype, g.dim, [&](auto tag, auto dim) {
    using T = decltype(tag);
    constexpr int D = decltype(dim)::value;
    tiled::Tensors<T> t = tiled::inputs<T>(q, k, v, rpb, scale);
    t.out_w = static_cast<T*>(out);
    t.lse_w = lse;
    run_grid(tiled::ForwardKernel<T, D>{g, t, layout<D>(g, tiled::Pass::kForward)}, false);
    return cudaSuccess;
  });
}

cudaError_t na_fused_backward(DType dtype, const Geometry& g, const void* grad_out, const void* q,
                              const void* k, const void* v, const void* rpb, const void* out,
                              const float* lse, float scale, float* delta, void* grad_q,
                              void* grad_k, void* grad_v, float* grad_rpb, cudaStream_t stream) {
  const cudaError_t e = na_row_dot(dtype, g, grad_out, out, delta, stream);
  if (e != cudaSuccess) return e;
  if (grad_rpb != nullptr) std::fill(grad_rpb, grad_rpb + g.heads * g.bias_size(), 0.0f);
  return dispatch_tiled(dtype, g.dim, [&](auto tag, auto dim) {
    using T = decltype(tag);
    constexpr int D = decltype(dim)::value;
    tiled::Tensors<T> t = tiled::inputs<T>(q, k, v, rpb, scale);
    t.out = in<T>(out);
    t.grad_out = in<T>(grad_out);
    t.lse = lse;
    t.delta = delta;
    t.grad_q = static_cast<T*>(grad_q);
    t.grad_k = static_cast<T*>(grad_k);
    t.grad_v = static_cast<T*>(grad_v);
    t.grad_rpb = grad_rpb;
    run_grid(tiled::QueryGradKernel<T, D>{g, t, layout<D>(g, tiled::Pass::kQueryGrad)}, false);
    run_grid(tiled::KeyGradKernel<T, D>{g, t, layout<D>(g, tiled::Pass::kKeyGrad)}, true);
    return cudaSuccess;
  });
}

bool fna_supported(DType dtype, const Geometry& g, int) {
  return (dtype == DType::kFloat16 || dtype == DType::kBFloat16) && fna::serves(g);
}

// How often the stand-in ran the tensor-core forward (lets tests see which path the op took).
int64_t host_fna_forward_calls = 0;

// Every CTA of the grid, each as a block of fibers (host_cta.h).
cudaError_t na_fna_forward(DType dtype, const Geometry& g, const void* q, const void* k,
                           const void* v, const void* rpb, float scale, void* out, float* lse,
                           cudaStream_t) {
  if (!fna_supported(dtype, g, 0)) return cudaErrorInvalidValue;
  ++host_fna_forward_calls;
  return dispatch_tiled(dtype, g.dim, [&](auto tag, auto dim) {
    using T = decltype(tag);
    constexpr int D = decltype(dim)::value;
    if constexpr (std::is_same_v<T, float>) {
      return cudaErrorInvalidValue;
    } else {
      const fna::ForwardArgs<T> args = fna::forward_args<T>(q, k, v, rpb, scale, out, lse);
      const fna::TileShape shape = fna::tile_shape(g);
      run_ctas(fna::cta_count(g, shape), fna::SharedTiles<D>::template bytes<T>(),
               [&](auto& ctx, int64_t c, unsigned char* smem) {
                 fna::forward_cta<T, D>(ctx, g, args, shape, c, reinterpret_cast<T*>(smem));
               });
      return cudaSuccess;
    }
  });
}

bool fna_backward_supported(DType dtype, const Geometry& g, bool, int) {
  return fna_supported(dtype, g, 0);
}

// How often the stand-in ran the tensor-core backward.
int64_t host_fna_backward_calls = 0;

// Both passes, every CTA of each grid, in launch order.
cudaError_t na_fna_backward(DType dtype, const Geometry& g, const void* grad_out, const void* q,
                            const void* k, const void* v, const void* rpb, const void* out,
                            const float* lse, float scale, float* delta, void* grad_q, void* grad_k,
                            void* grad_v, float* grad_rpb, cudaStream_t stream) {
  if (!fna_backward_supported(dtype, g, rpb != nullptr, 0)) return cudaErrorInvalidValue;
  ++host_fna_backward_calls;
  const cudaError_t e = na_row_dot(dtype, g, grad_out, out, delta, stream);
  if (e != cudaSuccess) return e;
  if (rpb != nullptr && grad_rpb != nullptr)
    std::fill(grad_rpb, grad_rpb + g.heads * g.bias_size(), 0.0f);
  return dispatch_tiled(dtype, g.dim, [&](auto tag, auto dim) {
    using T = decltype(tag);
    constexpr int D = decltype(dim)::value;
    if constexpr (std::is_same_v<T, float>) {
      return cudaErrorInvalidValue;
    } else {
      const fna::BackwardArgs<T> args = fna::backward_args<T>(
          grad_out, q, k, v, rpb, lse, delta, scale, grad_q, grad_k, grad_v, grad_rpb);
      const fna::TileShape shape = fna::tile_shape(g);
      const size_t bytes =
          std::max(fna::QueryGradTiles<D>::template bytes<T>(g, args.grad_rpb != nullptr),
                   fna::KeyGradTiles<D>::template bytes<T>());
      const int64_t ctas = fna::cta_count(g, shape);
      run_ctas(ctas, bytes, [&](auto& ctx, int64_t c, unsigned char* smem) {
        fna::query_grad_cta<T, D>(ctx, g, args, shape, c, smem);
      });
      run_ctas(ctas, bytes, [&](auto& ctx, int64_t c, unsigned char* smem) {
        fna::key_grad_cta<T, D>(ctx, g, args, shape, c, smem);
      });
      return cudaSuccess;
    }
  });
}

}  // namespace vitrine::cuda
