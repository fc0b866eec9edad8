#include "layers/gelu.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace vitrine::layers {
namespace {

using at::Tensor;

// The helpers are inlined into each build of the loops below, which the compiler vectorises:
// no branches, and the two data-dependent choices made as integer operations on the bits.
#define VITRINE_ALWAYS_INLINE inline __attribute__((always_inline))

VITRINE_ALWAYS_INLINE float float_from_bits(int32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}

VITRINE_ALWAYS_INLINE int32_t bits_of_float(float f) {
  int32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i;
}

// exp(e) for -87 < e <= 0 (Cephes' expf): e = n ln2 + r with |r| <= ln2 / 2, exp(r) by a
// degree-6 polynomial, 2^n written into the exponent bits. n comes from adding 1.5 * 2^23,
// which rounds to an integer in the low mantissa bits.
VITRINE_ALWAYS_INLINE float exp_of_nonpositive(float e) {
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
  const float shifted = e * 1.44269504088896341f + kRound;
  const float n = shifted - kRound;
  const int32_t exponent = bits_of_float(shifted) - bits_of_float(kRound);
  float r = e - n * 0.693359375f;  // ln2 in two parts: exact product, then the rest
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return (p * (r * r) + r + 1.0f) * float_from_bits((exponent + 127) << 23);
}

struct Normal {
  float cdf;    // Phi(v)
  float gauss;  // exp(-v^2 / 2), the density without its 1 / sqrt(2 pi)
};

// Phi(v) = erfc(-v / sqrt2) / 2, with erfc(z) = t poly(t) exp(-z^2), t = 1 / (1 + p z) for
// z = |v| / sqrt2 (Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7): for v < 0 Phi is that
// product itself, so the negative tail keeps its digits; for v >= 0 it is 1 minus it.
VITRINE_ALWAYS_INLINE Normal normal_at(float v) {
  // z is capped at 9.3 (as integers: non-negative floats order like their bits), where
  // erfc(z) < 1e-38 and exp(-z^2) is still a normal float.
  const int32_t z_bits = bits_of_float(std::fabs(v) * 0.70710678118654752f);
  const int32_t cap = 0x4114CCCD;  // 9.3f
  const float z = float_from_bits(z_bits < cap ? z_bits : cap);
  const float t = 1.0f / (1.0f + 0.3275911f * z);
  float poly = 1.061405429f;
  poly = poly * t - 1.453152027f;
  poly = poly * t + 1.421413741f;
  poly = poly * t - 0.284496736f;
  poly = poly * t + 0.254829592f;
  const float gauss = exp_of_nonpositive(-(z * z));
  const float tail = 0.5f * (poly * t) * gauss;
  const float body = 1.0f - tail;
  const int32_t negative = bits_of_float(v) >> 31;  // all ones when the sign bit is set
  return {float_from_bits((bits_of_float(tail) & negative) | (bits_of_float(body) & ~negative)),
          gauss};
}

constexpr float kInvSqrt2Pi = 0.39894228040143268f;

VITRINE_ALWAYS_INLINE void gelu_loop(const float* __restrict x, float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * normal_at(x[i]).cdf;
}

VITRINE_ALWAYS_INLINE void gelu_backward_loop(const float* __restrict grad,
                                              const float* __restrict x, float* __restrict out,
                                              int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const Normal at_x = normal_at(x[i]);
    out[i] = grad[i] * (at_x.cdf + x[i] * at_x.gauss * kInvSqrt2Pi);
  }
}

__attribute__((target("avx2,fma"))) void gelu_avx2(const float* x, float* y, int64_t n) {
  gelu_loop(x, y, n);
}
__attribute__((target("avx2,fma"))) void gelu_backward_avx2(const float* grad, const float* x,
                                                            float* out, int64_t n) {
  gelu_backward_loop(grad, x, out, n);
}
void gelu_portable(const float* x, float* y, int64_t n) {
  gelu_loop(x, y, n);
}
void gelu_backward_portable(const float* grad, const float* x, float* out, int64_t n) {
  gelu_backward_loop(grad, x, out, n);
}

bool gelu_use_avx2() {
  static const bool yes = [] {
    const char* isa = std::getenv("VITRINE_CPU_ISA");
    if (isa && std::strcmp(isa, "baseline") == 0) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return yes;
}

void gelu_kernel(const float* x, float* y, int64_t n) {
  gelu_use_avx2() ? gelu_avx2(x, y, n) : gelu_portable(x, y, n);
}
void gelu_backward_kernel(const float* grad, const float* x, float* out, int64_t n) {
  gelu_use_avx2() ? gelu_backward_avx2(grad, x, out, n) : gelu_backward_portable(grad, x, out, n);
}

void gelu_kernel(const double* x, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * 0.5 * std::erfc(-x[i] * M_SQRT1_2);
}
void gelu_backward_kernel(const double* grad, const double* x, double* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double cdf = 0.5 * std::erfc(-x[i] * M_SQRT1_2);
    const double density = std::exp(-0.5 * x[i] * x[i]) * (0.5 * M_2_SQRTPI * M_SQRT1_2);
    out[i] = grad[i] * (cdf + x[i] * density);
  }
}

// Elements per task: each is independent, so the result does not depend on the threads.
constexpr int64_t kGeluGrain = 32768;

bool has_gelu_kernel(const Tensor& t) {
  return t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble;
}

void check_gelu_dtype(const Tensor& t, const char* op) {
  TORCH_CHECK(has_gelu_kernel(t), op, ": expected float32 or float64, got ", t.scalar_type());
}

Tensor gelu_cpu(const Tensor& input_any) {
  check_gelu_dtype(input_any, "vitrine::gelu");
  const Tensor input = input_any.contiguous();
  Tensor out = at::empty_like(input);
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "vitrine::gelu", [&] {
    const scalar_t* x = input.data_ptr<scalar_t>();
    scalar_t* y = out.data_ptr<scalar_t>();
    at::parallel_for(0, input.numel(), kGeluGrain, [&](int64_t begin, int64_t end) {
      gelu_kernel(x + begin, y + begin, end - begin);
    });
  });
  return out;
}

Tensor gelu_backward_cpu(const Tensor& grad_any, const Tensor& input_any) {
  check_gelu_dtype(input_any, "vitrine::gelu_backward");
  TORCH_CHECK(
      grad_any.sizes() == input_any.sizes() && grad_any.scalar_type() == input_any.scalar_type(),
      "vitrine::gelu_backward: gradient ", grad_any.scalar_type(), grad_any.sizes(),
      " for an input ", input_any.scalar_type(), input_any.sizes());
  const Tensor grad = grad_any.contiguous(), input = input_any.contiguous();
  Tensor out = at::empty_like(input);
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "vitrine::gelu_backward", [&] {
    const scalar_t* g = grad.data_ptr<scalar_t>();
    const scalar_t* x = input.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, input.numel(), kGeluGrain, [&](int64_t begin, int64_t end) {
      gelu_backward_kernel(g + begin, x + begin, o + begin, end - begin);
    });
  });
  return out;
}

const c10::OperatorHandle& gelu_op() {
  static const auto op = c10::Dispatcher::singleton().findSchemaOrThrow("vitrine::gelu", "");
  return op;
}

const c10::OperatorHandle& gelu_backward_op() {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("vitrine::gelu_backward", "");
  return op;
}

class GeluFunction : public torch::autograd::Function<GeluFunction> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& input) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({input});
    return gelu_op().typed<Tensor(const Tensor&)>().call(input);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const Tensor input = ctx->get_saved_variables()[0];
    return {gelu_backward_op().typed<Tensor(const Tensor&, const Tensor&)>().call(grads[0], input)};
  }
};

Tensor gelu_autograd(const Tensor& input) {
  return GeluFunction::apply(input);
}

thread_local bool stock_gelu = false;

}  // namespace

at::Tensor gelu(const at::Tensor& x) {
  if (stock_gelu || !x.device().is_cpu() || !has_gelu_kernel(x)) return at::gelu(x);
  return gelu_op().typed<Tensor(const Tensor&)>().call(x);
}

StockGeluScope::StockGeluScope() : previous_(stock_gelu) {
  stock_gelu = true;
}

StockGeluScope::~StockGeluScope() {
  stock_gelu = previous_;
}

TORCH_LIBRARY_FRAGMENT(vitrine, m) {
  m.def("gelu(Tensor self) -> Tensor");
  m.def("gelu_backward(Tensor grad, Tensor self) -> Tensor");
}

TORCH_LIBRARY_IMPL(vitrine, CPU, m) {
  m.impl("gelu", gelu_cpu);
  m.impl("gelu_backward", gelu_backward_cpu);
}

TORCH_LIBRARY_IMPL(vitrine, Autograd, m) {
  m.impl("gelu", gelu_autograd);
}

}  // namespace vitrine::layers
