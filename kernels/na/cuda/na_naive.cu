// The naive CUDA kernels: one thread per output element, each running the element function
// of na_naive_elements.cuh (the code the CPU tests check against the reference).
#include "na/cuda/na_dtype.cuh"
#include "na/cuda/na_kernels.h"
#include "na/cuda/na_naive_elements.cuh"

namespace vitrine::cuda {
namespace {

constexpr int kThreads = 256;

#define VITRINE_GRID_STRIDE(i, n)                                                        \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

template <typename T>
__global__ void qk_kernel(Geometry g, const T* q, const T* k, const T* rpb, T* attn, int64_t n) {
  using Acc = typename AccumulatorOf<T>::type;
  VITRINE_GRID_STRIDE(i, n) attn[i] = static_cast<T>(naive::qk<Acc>(g, q, k, rpb, i));
}

template <typename T>
__global__ void av_kernel(Geometry g, const T* attn, const T* v, T* out, int64_t n) {
  using Acc = typename AccumulatorOf<T>::type;
  VITRINE_GRID_STRIDE(i, n) out[i] = static_cast<T>(naive::av<Acc>(g, attn, v, i));
}

template <typename T>
__global__ void gather_grad_kernel(Geometry g, const T* weights, const T* x, int64_t width, T* grad,
                                   int64_t n) {
  using Acc = typename AccumulatorOf<T>::type;
  VITRINE_GRID_STRIDE(i, n)
  grad[i] = static_cast<T>(naive::gather_grad<Acc>(g, weights, x, width, i));
}

template <typename T>
__global__ void scatter_grad_kernel(Geometry g, const T* weights, const T* x, int64_t width,
                                    T* grad, int64_t n) {
  using Acc = typename AccumulatorOf<T>::type;
  VITRINE_GRID_STRIDE(i, n)
  grad[i] = static_cast<T>(naive::scatter_grad<Acc>(g, weights, x, width, i));
}

template <typename T>
__global__ void attn_grad_kernel(Geometry g, const T* grad_out, const T* v, T* grad_attn,
                                 int64_t n) {
  using Acc = typename AccumulatorOf<T>::type;
  VITRINE_GRID_STRIDE(i, n)
  grad_attn[i] = static_cast<T>(naive::attn_grad<Acc>(g, grad_out, v, i));
}

template <typename T>
__global__ void bias_grad_kernel(Geometry g, const T* grad_attn,
                                 typename AccumulatorOf<T>::type* grad_rpb, int64_t n) {
  using Acc = typename AccumulatorOf<T>::type;
  VITRINE_GRID_STRIDE(i, n) {
    int64_t cell;
    Acc value;
    if (naive::bias_grad_term(g, grad_attn, i, cell, value)) atomicAdd(grad_rpb + cell, value);
  }
}

template <typename T>
__global__ void row_dot_kernel(Geometry g, const T* grad_out, const T* out, float* delta,
                               int64_t n) {
  VITRINE_GRID_STRIDE(i, n) delta[i] = naive::row_dot<float>(g, grad_out, out, i);
}

#undef VITRINE_GRID_STRIDE

template <typename... Params, typename... Args>
cudaError_t launch(void (*kernel)(Params...), int64_t n, cudaStream_t stream, Args... args) {
  if (n <= 0) return cudaSuccess;
  kernel<<<grid_for(n, kThreads), kThreads, 0, stream>>>(args..., n);
  return cudaGetLastError();
}

template <typename T>
const T* in(const void* p) {
  return static_cast<const T*>(p);
}
template <typename T>
T* out(void* p) {
  return static_cast<T*>(p);
}

}  // namespace

cudaError_t na_qk(DType dtype, const Geometry& g, const void* q, const void* k, const void* rpb,
                  void* attn, cudaStream_t stream) {
  return dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    return launch(qk_kernel<T>, g.batch_heads() * g.tokens() * g.window_size(), stream, g, in<T>(q),
                  in<T>(k), in<T>(rpb), out<T>(attn));
  });
}

cudaError_t na_av(DType dtype, const Geometry& g, const void* attn, const void* v, void* o,
                  cudaStream_t stream) {
  return dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    return launch(av_kernel<T>, g.batch_heads() * g.tokens() * g.value_dim, stream, g, in<T>(attn),
                  in<T>(v), out<T>(o));
  });
}

cudaError_t na_qk_backward(DType dtype, const Geometry& g, const void* grad_attn, const void* q,
                           const void* k, void* grad_q, void* grad_k, void* grad_rpb,
                           cudaStream_t stream) {
  return dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    using Acc = typename AccumulatorOf<T>::type;
    const int64_t n = g.batch_heads() * g.tokens() * g.dim;
    cudaError_t e = launch(gather_grad_kernel<T>, n, stream, g, in<T>(grad_attn), in<T>(k), g.dim,
                           out<T>(grad_q));
    if (e == cudaSuccess)
      e = launch(scatter_grad_kernel<T>, n, stream, g, in<T>(grad_attn), in<T>(q), g.dim,
                 out<T>(grad_k));
    if (e == cudaSuccess && grad_rpb != nullptr) {
      e = cudaMemsetAsync(grad_rpb, 0, sizeof(Acc) * g.heads * g.bias_size(), stream);
      if (e == cudaSuccess)
        e = launch(bias_grad_kernel<T>, g.batch_heads() * g.tokens() * g.window_size(), stream, g,
                   in<T>(grad_attn), static_cast<Acc*>(grad_rpb));
    }
    return e;
  });
}

cudaError_t na_av_backward(DType dtype, const Geometry& g, const void* grad_out, const void* attn,
                           const void* v, void* grad_attn, void* grad_v, cudaStream_t stream) {
  return dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    cudaError_t e = launch(attn_grad_kernel<T>, g.batch_heads() * g.tokens() * g.window_size(),
                           stream, g, in<T>(grad_out), in<T>(v), out<T>(grad_attn));
    if (e == cudaSuccess)
      e = launch(scatter_grad_kernel<T>, g.batch_heads() * g.tokens() * g.value_dim, stream, g,
                 in<T>(attn), in<T>(grad_out), g.value_dim, out<T>(grad_v));
    return e;
  });
}

cudaError_t na_row_dot(DType dtype, const Geometry& g, const void* grad_out, const void* o,
                       float* delta, cudaStream_t stream) {
  return dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    return launch(row_dot_kernel<T>, g.batch_heads() * g.tokens(), stream, g, in<T>(grad_out),
                  in<T>(o), delta);
  });
}

}  // namespace vitrine::cuda
