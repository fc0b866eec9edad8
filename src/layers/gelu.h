// GELU in its exact form, x * Phi(x) with Phi the standard normal CDF (torch's default,
// approximate='none'; NAT, timm and every model of the zoo use it). libtorch 1.13's CPU
// kernels spend ~10% of a training step of the embedded default in GELU and its gradient;
// this op (vitrine::gelu and vitrine::gelu_backward, registered in libvitrine_ops so exported
// models keep it) computes both from one shared exp(-x^2/2) in vectorised float loops.
//
// Numbers: float32 uses Abramowitz & Stegun 7.1.26 for erfc (as ATen's vectorised erf does)
// with a polynomial exp: within ~4e-7 of the exact GELU (float rounding at |x| ~ 1), gradient
// within ~3e-7. The AVX2+FMA build runs on every CPU that has both (the same numbers on the
// AVX2 and the AVX-512 machines); VITRINE_CPU_ISA=baseline forces the portable build. float64
// uses std::erfc and std::exp.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace vitrine::layers {

// x * Phi(x), elementwise. CPU float32/float64 run the op; other devices and dtypes (CUDA,
// bf16 autocast) run at::gelu.
at::Tensor gelu(const at::Tensor& x);

// While one lives on a thread, gelu runs at::gelu there instead of the op: TorchScript
// export's portable flavour traces stock ops only.
class StockGeluScope {
 public:
  StockGeluScope();
  ~StockGeluScope();
  StockGeluScope(const StockGeluScope&) = delete;
  StockGeluScope& operator=(const StockGeluScope&) = delete;

 private:
  bool previous_;
};

// gelu as a module, for torch::nn::Sequential (in place of torch::nn::GELU; no parameters).
class GeluImpl : public torch::nn::Module {
 public:
  at::Tensor forward(const at::Tensor& x) { return layers::gelu(x); }
};
TORCH_MODULE(Gelu);

}  // namespace vitrine::layers
