#include "layers/depthwise_conv.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>
#include <vector>

namespace vitrine::layers {
namespace {

using at::Tensor;

// The inner loops run along the channels of one pixel; built twice (AVX2 and the baseline)
// and picked when the library loads. No FMA in either, so both round alike.
#define VITRINE_ROW_CLONES __attribute__((target_clones("avx2", "default")))

VITRINE_ROW_CLONES void multiply_add(float* __restrict out, const float* __restrict a,
                                     const float* __restrict b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] += a[i] * b[i];
}
VITRINE_ROW_CLONES void multiply_add(double* __restrict out, const double* __restrict a,
                                     const double* __restrict b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] += a[i] * b[i];
}
VITRINE_ROW_CLONES void add(float* __restrict out, const float* __restrict a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] += a[i];
}
VITRINE_ROW_CLONES void add(double* __restrict out, const double* __restrict a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] += a[i];
}

thread_local bool stock_depthwise = false;

// Images per chunk of the weight and bias gradients (fixed: the sums do not depend on threads).
constexpr int64_t kChunk = 8;

struct Shape {
  int64_t B, H, W, C, k, pad;
};

Shape check(const Tensor& input, const Tensor& weight, const char* op) {
  TORCH_CHECK(input.dim() == 4, op, ": expected a [B, H, W, C] map, got shape ", input.sizes());
  const int64_t C = input.size(3);
  TORCH_CHECK(weight.dim() == 4 && weight.size(0) == C && weight.size(1) == 1 &&
                  weight.size(2) == weight.size(3) && weight.size(2) % 2 == 1,
              op, ": expected a depthwise weight [", C, ", 1, k, k] with k odd, got shape ",
              weight.sizes());
  TORCH_CHECK(input.scalar_type() == weight.scalar_type(), op, ": input is ", input.scalar_type(),
              " but weight is ", weight.scalar_type());
  const int64_t k = weight.size(2);
  return {input.size(0), input.size(1), input.size(2), C, k, (k - 1) / 2};
}

// weight [C, 1, k, k] -> taps [k * k, C]: one contiguous channel row per tap.
Tensor taps_of(const Tensor& weight, const Shape& s) {
  return weight.reshape({s.C, s.k * s.k}).t().contiguous();
}

// Offset of pixel (n, y, x)'s channel row in a contiguous [B, H, W, C] map.
int64_t pixel(const Shape& s, int64_t n, int64_t y, int64_t x) {
  return ((n * s.H + y) * s.W + x) * s.C;
}

// out[n, y, x] = init (the bias; zeros when null) + the sum over taps (ky, kx), in that order, of
// source[n, y + d(ky), x + d(kx)] * taps[ky, kx] with d(t) = t - pad; `mirrored`: d(t) =
// pad - t, the forward's taps seen from the input's side (its gradient).
template <typename scalar_t>
void correlate(const scalar_t* source, const scalar_t* taps, const scalar_t* init, scalar_t* out,
               const Shape& s, bool mirrored) {
  at::parallel_for(0, s.B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t n = b0; n < b1; ++n)
      for (int64_t y = 0; y < s.H; ++y)
        for (int64_t x = 0; x < s.W; ++x) {
          scalar_t* row = out + pixel(s, n, y, x);
          if (init)
            std::copy(init, init + s.C, row);
          else
            std::fill(row, row + s.C, scalar_t(0));
          for (int64_t ky = 0; ky < s.k; ++ky) {
            const int64_t sy = y + (mirrored ? s.pad - ky : ky - s.pad);
            if (sy < 0 || sy >= s.H) continue;
            for (int64_t kx = 0; kx < s.k; ++kx) {
              const int64_t sx = x + (mirrored ? s.pad - kx : kx - s.pad);
              if (sx < 0 || sx >= s.W) continue;
              multiply_add(row, source + pixel(s, n, sy, sx), taps + (ky * s.k + kx) * s.C, s.C);
            }
          }
        }
  });
}

Tensor forward_cpu(const Tensor& input_any, const Tensor& weight,
                   const c10::optional<Tensor>& bias) {
  const Shape s = check(input_any, weight, "depthwise_conv2d_nhwc");
  const bool has_bias = bias.has_value() && bias->defined();
  if (has_bias)
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == s.C,
                "depthwise_conv2d_nhwc: expected a bias of ", s.C, " values, got shape ",
                bias->sizes());
  const Tensor input = input_any.contiguous();
  const Tensor taps = taps_of(weight, s);
  const Tensor b = has_bias ? bias->contiguous() : Tensor();
  Tensor out = at::empty({s.B, s.H, s.W, s.C}, input.options());
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "depthwise_conv2d_nhwc", [&] {
    correlate(input.data_ptr<scalar_t>(), taps.data_ptr<scalar_t>(),
              has_bias ? b.data_ptr<scalar_t>() : nullptr, out.data_ptr<scalar_t>(), s,
              /*mirrored=*/false);
  });
  return out;
}

std::tuple<Tensor, Tensor, Tensor> backward_cpu(const Tensor& grad_any, const Tensor& input_any,
                                                const Tensor& weight, bool has_bias) {
  const Shape s = check(input_any, weight, "depthwise_conv2d_nhwc_backward");
  TORCH_CHECK(grad_any.sizes() == input_any.sizes(),
              "depthwise_conv2d_nhwc_backward: gradient of shape ", grad_any.sizes(),
              " for an input of shape ", input_any.sizes());
  const Tensor grad = grad_any.contiguous(), input = input_any.contiguous();
  const Tensor taps = taps_of(weight, s);
  Tensor grad_input = at::empty_like(input);
  const int64_t chunks = (s.B + kChunk - 1) / kChunk;
  Tensor grad_taps = at::zeros({chunks, s.k * s.k, s.C}, input.options());
  Tensor grad_bias = at::zeros({chunks, s.C}, input.options());
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "depthwise_conv2d_nhwc_backward", [&] {
    const scalar_t* g = grad.data_ptr<scalar_t>();
    const scalar_t* in = input.data_ptr<scalar_t>();
    // d input[iy, ix] = sum over taps of grad[iy - ky + pad, ix - kx + pad] * w[ky, kx].
    correlate<scalar_t>(g, taps.data_ptr<scalar_t>(), nullptr, grad_input.data_ptr<scalar_t>(), s,
                        /*mirrored=*/true);
    // d w[ky, kx] = sum over pixels of grad[y, x] * input[y + ky - pad, x + kx - pad], per
    // chunk of images.
    scalar_t* gt = grad_taps.data_ptr<scalar_t>();
    scalar_t* gb = grad_bias.data_ptr<scalar_t>();
    at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t chunk = c0; chunk < c1; ++chunk) {
        scalar_t* chunk_taps = gt + chunk * s.k * s.k * s.C;
        scalar_t* chunk_bias = gb + chunk * s.C;
        const int64_t last = std::min(s.B, (chunk + 1) * kChunk);
        for (int64_t n = chunk * kChunk; n < last; ++n)
          for (int64_t y = 0; y < s.H; ++y)
            for (int64_t x = 0; x < s.W; ++x) {
              const scalar_t* grad_row = g + pixel(s, n, y, x);
              if (has_bias) add(chunk_bias, grad_row, s.C);
              for (int64_t ky = 0; ky < s.k; ++ky) {
                const int64_t iy = y + ky - s.pad;
                if (iy < 0 || iy >= s.H) continue;
                for (int64_t kx = 0; kx < s.k; ++kx) {
                  const int64_t ix = x + kx - s.pad;
                  if (ix < 0 || ix >= s.W) continue;
                  multiply_add(chunk_taps + (ky * s.k + kx) * s.C, grad_row,
                               in + pixel(s, n, iy, ix), s.C);
                }
              }
            }
      }
    });
    // The chunks in order: a fixed summation whatever ran them.
    for (int64_t chunk = 1; chunk < chunks; ++chunk) {
      add(gt, gt + chunk * s.k * s.k * s.C, s.k * s.k * s.C);
      if (has_bias) add(gb, gb + chunk * s.C, s.C);
    }
  });
  Tensor grad_weight = grad_taps[0].t().reshape({s.C, 1, s.k, s.k}).contiguous();
  return {grad_input, grad_weight, has_bias ? grad_bias[0].clone() : Tensor()};
}

const c10::OperatorHandle& forward_op() {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("vitrine::depthwise_conv2d_nhwc", "");
  return op;
}

const c10::OperatorHandle& backward_op() {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("vitrine::depthwise_conv2d_nhwc_backward", "");
  return op;
}

class DepthwiseFunction : public torch::autograd::Function<DepthwiseFunction> {
 public:
  // bias travels as an optional (libtorch 1.13's apply reads the device of each plain Tensor).
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& input,
                        const Tensor& weight, const c10::optional<Tensor>& bias) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({input, weight});
    ctx->saved_data["has_bias"] = bias.has_value() && bias->defined();
    return forward_op()
        .typed<Tensor(const Tensor&, const Tensor&, const c10::optional<Tensor>&)>()
        .call(input, weight, bias);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const bool has_bias = ctx->saved_data["has_bias"].toBool();
    auto [gi, gw, gb] = backward_op()
                            .typed<std::tuple<Tensor, Tensor, Tensor>(const Tensor&, const Tensor&,
                                                                      const Tensor&, bool)>()
                            .call(grads[0], saved[0], saved[1], has_bias);
    return {gi, gw, gb};
  }
};

Tensor forward_autograd(const Tensor& input, const Tensor& weight,
                        const c10::optional<Tensor>& bias) {
  return DepthwiseFunction::apply(input, weight, bias);
}

}  // namespace

at::Tensor depthwise_conv2d_nhwc(const at::Tensor& input, const at::Tensor& weight,
                                 const std::optional<at::Tensor>& bias) {
  const c10::optional<Tensor> b = bias ? c10::optional<Tensor>(*bias) : c10::nullopt;
  const bool own_kernel =
      !stock_depthwise && input.device().is_cpu() && weight.device().is_cpu() &&
      (input.scalar_type() == at::kFloat || input.scalar_type() == at::kDouble) &&
      weight.scalar_type() == input.scalar_type();
  if (!own_kernel) {
    const Shape s = check(input, weight, "depthwise_conv2d_nhwc");
    return at::conv2d(input.permute({0, 3, 1, 2}), weight, b, 1, s.pad, 1, s.C)
        .permute({0, 2, 3, 1})
        .contiguous();
  }
  return forward_op()
      .typed<Tensor(const Tensor&, const Tensor&, const c10::optional<Tensor>&)>()
      .call(input, weight, b);
}

StockDepthwiseScope::StockDepthwiseScope() : previous_(stock_depthwise) {
  stock_depthwise = true;
}

StockDepthwiseScope::~StockDepthwiseScope() {
  stock_depthwise = previous_;
}

TORCH_LIBRARY_FRAGMENT(vitrine, m) {
  m.def("depthwise_conv2d_nhwc(Tensor input, Tensor weight, Tensor? bias) -> Tensor");
  m.def(
      "depthwise_conv2d_nhwc_backward(Tensor grad_out, Tensor input, Tensor weight, "
      "bool has_bias) -> (Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(vitrine, CPU, m) {
  m.impl("depthwise_conv2d_nhwc", forward_cpu);
  m.impl("depthwise_conv2d_nhwc_backward", backward_cpu);
}

TORCH_LIBRARY_IMPL(vitrine, Autograd, m) {
  m.impl("depthwise_conv2d_nhwc", forward_autograd);
}

}  // namespace vitrine::layers
