// Registers neighborhood attention as torch custom ops in the `vitrine` namespace:
// public naNd_qk / naNd_av / naNd (N = 1, 2, 3), plus the internal forward/backward ops
// their autograd functions call. A traced or scripted model records the public ops by
// name; loading libvitrine_ops.so makes them available to any libtorch/PyTorch program.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <tuple>

#include "attention/ops/na_backend.h"
#include "attention/ops/na_cpu.h"
#include "attention/ops/na_problem.h"

namespace vitrine::attention::na {
namespace {

using at::IntArrayRef;
using at::Tensor;
using c10::optional;
using BoolList = c10::List<bool>;

// Half and bfloat16 run through the float kernels (upcast in, downcast out).
at::ScalarType compute_type(at::ScalarType t) {
  return t == at::kDouble ? at::kDouble : at::kFloat;
}

Tensor prepare(const Problem& p, const Tensor& t) {
  return canonical(p, t.to(compute_type(p.dtype)));
}
Tensor prepare_rpb(const Problem& p, const optional<Tensor>& rpb) {
  if (!rpb || !rpb->defined()) return Tensor();
  return canonical_rpb(p, rpb->to(compute_type(p.dtype)));
}
Problem compute_problem(Problem p) {
  p.dtype = compute_type(p.dtype);
  return p;
}
Tensor finish(const Problem& p, const Tensor& t, int64_t last) {
  return t.view(user_shape(p, last)).to(p.dtype);
}
Tensor finish_rpb(const Problem& p, const Tensor& t) {
  return t.view(rpb_shape(p)).to(p.dtype);
}
at::TensorOptions options_of(const Problem& p) {
  return at::TensorOptions().dtype(compute_type(p.dtype)).device(p.device);
}
int axes_of(const Tensor& q) {
  return static_cast<int>(q.dim()) - 3;
}

// ---------------------------------------------------------------- CPU kernels

Tensor qk_cpu(const std::string& name, int axes, const Tensor& q, const Tensor& k,
              const optional<Tensor>& rpb, IntArrayRef kernel_size, IntArrayRef dilation,
              const BoolList& is_causal) {
  Problem p = describe_qk(name, axes, q, k, rpb, kernel_size, dilation, is_causal);
  const Problem c = compute_problem(p);
  Tensor attn = at::empty(
      {p.batch, p.heads, p.length[0], p.length[1], p.length[2], p.window_size()}, options_of(p));
  cpu::qk_forward(c, prepare(p, q), prepare(p, k), prepare_rpb(p, rpb), attn);
  return finish(p, attn, p.window_size());
}

Tensor av_cpu(const std::string& name, int axes, const Tensor& attn, const Tensor& v,
              IntArrayRef kernel_size, IntArrayRef dilation, const BoolList& is_causal) {
  Problem p = describe_av(name, axes, attn, v, kernel_size, dilation, is_causal);
  const Problem c = compute_problem(p);
  Tensor out = at::empty({p.batch, p.heads, p.length[0], p.length[1], p.length[2], v.size(-1)},
                         options_of(p));
  cpu::av_forward(c, prepare(p, attn), prepare(p, v), out);
  return finish(p, out, v.size(-1));
}

std::tuple<Tensor, Tensor> fused_forward_cpu(const Tensor& q, const Tensor& k, const Tensor& v,
                                             const optional<Tensor>& rpb, IntArrayRef kernel_size,
                                             IntArrayRef dilation, const BoolList& is_causal,
                                             double scale) {
  const int axes = axes_of(q);
  const std::string name = op_name("", axes);
  Problem p = describe_fused(name, axes, q, k, v, rpb, kernel_size, dilation, is_causal);
  const Problem c = compute_problem(p);
  Tensor out = at::empty({p.batch, p.heads, p.length[0], p.length[1], p.length[2], v.size(-1)},
                         options_of(p));
  Tensor lse = at::empty({p.batch, p.heads, p.length[0], p.length[1], p.length[2]}, options_of(p));
  cpu::fused_forward(c, prepare(p, q), prepare(p, k), prepare(p, v), prepare_rpb(p, rpb), scale,
                     out, lse);
  std::vector<int64_t> lse_shape = user_shape(p, 1);
  lse_shape.pop_back();
  // lse stays in the compute type: the backward needs its precision.
  return {finish(p, out, v.size(-1)), lse.view(lse_shape)};
}

std::tuple<Tensor, Tensor, Tensor> qk_backward_cpu(const Tensor& grad_attn, const Tensor& q,
                                                   const Tensor& k, bool has_rpb,
                                                   IntArrayRef kernel_size, IntArrayRef dilation,
                                                   const BoolList& is_causal) {
  const int axes = axes_of(q);
  Problem p = describe(op_name("_qk_backward", axes), axes, q, kernel_size, dilation, is_causal);
  check_attention(p, grad_attn);
  const Problem c = compute_problem(p);
  // Inputs converted once: saved activations are often non-contiguous views, so each
  // prepare() copies.
  const Tensor q_c = prepare(p, q);
  Tensor dq = at::empty_like(q_c);
  Tensor dk = at::empty_like(dq);
  Tensor drpb = has_rpb ? at::empty({p.heads, p.bias_extent(0), p.bias_extent(1), p.bias_extent(2)},
                                    options_of(p))
                        : Tensor();
  cpu::qk_backward(c, prepare(p, grad_attn), q_c, prepare(p, k), dq, dk, drpb);
  return {finish(p, dq, p.dim), finish(p, dk, p.dim),
          has_rpb ? finish_rpb(p, drpb) : at::zeros({0}, q.options())};
}

std::tuple<Tensor, Tensor> av_backward_cpu(const Tensor& grad_out, const Tensor& attn,
                                           const Tensor& v, IntArrayRef kernel_size,
                                           IntArrayRef dilation, const BoolList& is_causal) {
  const int axes = axes_of(attn);
  Problem p = describe(op_name("_av_backward", axes), axes, attn, kernel_size, dilation, is_causal);
  const Problem c = compute_problem(p);
  const Tensor attn_c = prepare(p, attn), v_c = prepare(p, v);
  Tensor dattn = at::empty_like(attn_c);
  Tensor dv = at::empty_like(v_c);
  cpu::av_backward(c, prepare(p, grad_out), attn_c, v_c, dattn, dv);
  return {finish(p, dattn, p.window_size()), finish(p, dv, v.size(-1))};
}

std::tuple<Tensor, Tensor, Tensor, Tensor> fused_backward_cpu(
    const Tensor& grad_out, const Tensor& q, const Tensor& k, const Tensor& v,
    const optional<Tensor>& rpb, const Tensor& out, const Tensor& lse, IntArrayRef kernel_size,
    IntArrayRef dilation, const BoolList& is_causal, double scale) {
  const int axes = axes_of(q);
  Problem p = describe(op_name("_backward", axes), axes, q, kernel_size, dilation, is_causal);
  const Problem c = compute_problem(p);
  const Tensor q_c = prepare(p, q), v_c = prepare(p, v);
  Tensor dq = at::empty_like(q_c);
  Tensor dk = at::empty_like(dq);
  Tensor dv = at::empty_like(v_c);
  const bool has_rpb = rpb && rpb->defined();
  Tensor drpb = has_rpb ? at::empty({p.heads, p.bias_extent(0), p.bias_extent(1), p.bias_extent(2)},
                                    options_of(p))
                        : Tensor();
  Tensor lse_c = lse.to(compute_type(p.dtype))
                     .reshape({p.batch, p.heads, p.length[0], p.length[1], p.length[2]})
                     .contiguous();
  cpu::fused_backward(c, prepare(p, grad_out), q_c, prepare(p, k), v_c, prepare_rpb(p, rpb),
                      prepare(p, out), lse_c, scale, dq, dk, dv, drpb);
  return {finish(p, dq, p.dim), finish(p, dk, p.dim), finish(p, dv, v.size(-1)),
          has_rpb ? finish_rpb(p, drpb) : at::zeros({0}, q.options())};
}

// ---------------------------------------------------------------- autograd

c10::OperatorHandle handle(const std::string& name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(("vitrine::" + name).c_str(), "");
}

struct Params {
  std::vector<int64_t> kernel, dilation;
  BoolList causal;
};

void save_params(torch::autograd::AutogradContext* ctx, IntArrayRef kernel, IntArrayRef dilation,
                 const BoolList& causal) {
  ctx->saved_data["kernel"] = kernel.vec();
  ctx->saved_data["dilation"] = dilation.vec();
  ctx->saved_data["causal"] = causal;
}

Params load_params(torch::autograd::AutogradContext* ctx) {
  return {ctx->saved_data["kernel"].toIntVector(), ctx->saved_data["dilation"].toIntVector(),
          ctx->saved_data["causal"].toBoolList()};
}

class QkFunction : public torch::autograd::Function<QkFunction> {
 public:
  // rpb travels as an optional: libtorch 1.13's Function::apply reads the device of every
  // plain Tensor argument, which fails for an undefined one.
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& q, const Tensor& k,
                        const optional<Tensor>& rpb, IntArrayRef kernel, IntArrayRef dilation,
                        const BoolList& causal, int64_t axes) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({q, k});
    ctx->saved_data["has_rpb"] = rpb.has_value() && rpb->defined();
    save_params(ctx, kernel, dilation, causal);
    return handle(op_name("_qk", static_cast<int>(axes)))
        .typed<Tensor(const Tensor&, const Tensor&, const optional<Tensor>&, IntArrayRef,
                      IntArrayRef, const BoolList&)>()
        .call(q, k, rpb, kernel, dilation, causal);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    Params prm = load_params(ctx);
    const bool has_rpb = ctx->saved_data["has_rpb"].toBool();
    auto [dq, dk, drpb] = handle("na_qk_backward")
                              .typed<std::tuple<Tensor, Tensor, Tensor>(
                                  const Tensor&, const Tensor&, const Tensor&, bool, IntArrayRef,
                                  IntArrayRef, const BoolList&)>()
                              .call(grads[0].contiguous(), saved[0], saved[1], has_rpb, prm.kernel,
                                    prm.dilation, prm.causal);
    return {dq, dk, has_rpb ? drpb : Tensor(), Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

class AvFunction : public torch::autograd::Function<AvFunction> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& attn, const Tensor& v,
                        IntArrayRef kernel, IntArrayRef dilation, const BoolList& causal,
                        int64_t axes) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({attn, v});
    save_params(ctx, kernel, dilation, causal);
    return handle(op_name("_av", static_cast<int>(axes)))
        .typed<Tensor(const Tensor&, const Tensor&, IntArrayRef, IntArrayRef, const BoolList&)>()
        .call(attn, v, kernel, dilation, causal);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    Params prm = load_params(ctx);
    auto [dattn, dv] =
        handle("na_av_backward")
            .typed<std::tuple<Tensor, Tensor>(const Tensor&, const Tensor&, const Tensor&,
                                              IntArrayRef, IntArrayRef, const BoolList&)>()
            .call(grads[0].contiguous(), saved[0], saved[1], prm.kernel, prm.dilation, prm.causal);
    return {dattn, dv, Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

using FusedForwardSig = std::tuple<Tensor, Tensor>(const Tensor&, const Tensor&, const Tensor&,
                                                   const optional<Tensor>&, IntArrayRef,
                                                   IntArrayRef, const BoolList&, double);

class FusedFunction : public torch::autograd::Function<FusedFunction> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& q, const Tensor& k,
                        const Tensor& v, const optional<Tensor>& rpb, IntArrayRef kernel,
                        IntArrayRef dilation, const BoolList& causal, double scale) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [out, lse] = handle("na_fused_forward")
                          .typed<FusedForwardSig>()
                          .call(q, k, v, rpb, kernel, dilation, causal, scale);
    ctx->save_for_backward({q, k, v, rpb.value_or(Tensor()), out, lse});
    save_params(ctx, kernel, dilation, causal);
    ctx->saved_data["scale"] = scale;
    return out;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto s = ctx->get_saved_variables();
    Params prm = load_params(ctx);
    const bool has_rpb = s[3].defined();
    auto [dq, dk, dv, drpb] =
        handle("na_fused_backward")
            .typed<std::tuple<Tensor, Tensor, Tensor, Tensor>(
                const Tensor&, const Tensor&, const Tensor&, const Tensor&, const optional<Tensor>&,
                const Tensor&, const Tensor&, IntArrayRef, IntArrayRef, const BoolList&, double)>()
            .call(grads[0].contiguous(), s[0], s[1], s[2],
                  has_rpb ? optional<Tensor>(s[3]) : c10::nullopt, s[4], s[5], prm.kernel,
                  prm.dilation, prm.causal, ctx->saved_data["scale"].toDouble());
    return {dq, dk, dv, has_rpb ? drpb : Tensor(), Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

template <int N>
Tensor qk_autograd(const Tensor& q, const Tensor& k, const optional<Tensor>& rpb,
                   IntArrayRef kernel_size, IntArrayRef dilation, const BoolList& is_causal) {
  return QkFunction::apply(q, k, rpb, kernel_size, dilation, is_causal, N);
}
template <int N>
Tensor av_autograd(const Tensor& attn, const Tensor& v, IntArrayRef kernel_size,
                   IntArrayRef dilation, const BoolList& is_causal) {
  return AvFunction::apply(attn, v, kernel_size, dilation, is_causal, N);
}
template <int N>
Tensor fused_autograd(const Tensor& q, const Tensor& k, const Tensor& v,
                      const optional<Tensor>& rpb, IntArrayRef kernel_size, IntArrayRef dilation,
                      const BoolList& is_causal, double scale) {
  TORCH_CHECK(q.dim() == N + 3, op_name("", N), ": expected a ", N + 3, "-D query, got shape ",
              q.sizes());
  return FusedFunction::apply(q, k, v, rpb, kernel_size, dilation, is_causal, scale);
}

// The `.traceable` overloads: the same ops with is_causal as int[] (TorchScript's tracer
// cannot record bool lists), forwarding to the primary ops through the dispatcher. Tracing
// records the overload; a loaded file runs it, and so the primary op.
BoolList as_bools(IntArrayRef flags) {
  BoolList out;
  for (int64_t f : flags) out.push_back(f != 0);
  return out;
}

c10::OperatorHandle primary(const std::string& name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(("vitrine::" + name).c_str(), "");
}

template <int N>
Tensor qk_traceable(const Tensor& q, const Tensor& k, const optional<Tensor>& rpb,
                    IntArrayRef kernel_size, IntArrayRef dilation, IntArrayRef is_causal) {
  static const auto op = primary(op_name("_qk", N))
                             .typed<Tensor(const Tensor&, const Tensor&, const optional<Tensor>&,
                                           IntArrayRef, IntArrayRef, const BoolList&)>();
  return op.call(q, k, rpb, kernel_size, dilation, as_bools(is_causal));
}
template <int N>
Tensor av_traceable(const Tensor& attn, const Tensor& v, IntArrayRef kernel_size,
                    IntArrayRef dilation, IntArrayRef is_causal) {
  static const auto op =
      primary(op_name("_av", N))
          .typed<Tensor(const Tensor&, const Tensor&, IntArrayRef, IntArrayRef, const BoolList&)>();
  return op.call(attn, v, kernel_size, dilation, as_bools(is_causal));
}
template <int N>
Tensor fused_traceable(const Tensor& q, const Tensor& k, const Tensor& v,
                       const optional<Tensor>& rpb, IntArrayRef kernel_size, IntArrayRef dilation,
                       IntArrayRef is_causal, double scale) {
  static const auto op =
      primary(op_name("", N))
          .typed<Tensor(const Tensor&, const Tensor&, const Tensor&, const optional<Tensor>&,
                        IntArrayRef, IntArrayRef, const BoolList&, double)>();
  return op.call(q, k, v, rpb, kernel_size, dilation, as_bools(is_causal), scale);
}

}  // namespace

TORCH_LIBRARY(vitrine, m) {
  for (int n = 1; n <= 3; ++n) {
    const std::string d = "na" + std::to_string(n) + "d";
    m.def((d + "_qk(Tensor q, Tensor k, Tensor? rpb, int[] kernel_size, int[] dilation, "
               "bool[] is_causal) -> Tensor")
              .c_str());
    m.def((d + "_av(Tensor attn, Tensor v, int[] kernel_size, int[] dilation, "
               "bool[] is_causal) -> Tensor")
              .c_str());
    m.def((d + "(Tensor q, Tensor k, Tensor v, Tensor? rpb, int[] kernel_size, int[] dilation, "
               "bool[] is_causal, float scale) -> Tensor")
              .c_str());
    m.def((d + "_qk.traceable(Tensor q, Tensor k, Tensor? rpb, int[] kernel_size, "
               "int[] dilation, int[] is_causal) -> Tensor")
              .c_str());
    m.def((d + "_av.traceable(Tensor attn, Tensor v, int[] kernel_size, int[] dilation, "
               "int[] is_causal) -> Tensor")
              .c_str());
    m.def((d + ".traceable(Tensor q, Tensor k, Tensor v, Tensor? rpb, int[] kernel_size, "
               "int[] dilation, int[] is_causal, float scale) -> Tensor")
              .c_str());
  }
  m.def(
      "na_qk_backward(Tensor grad_attn, Tensor q, Tensor k, bool has_rpb, int[] kernel_size, "
      "int[] dilation, bool[] is_causal) -> (Tensor, Tensor, Tensor)");
  m.def(
      "na_av_backward(Tensor grad_out, Tensor attn, Tensor v, int[] kernel_size, "
      "int[] dilation, bool[] is_causal) -> (Tensor, Tensor)");
  m.def(
      "na_fused_forward(Tensor q, Tensor k, Tensor v, Tensor? rpb, int[] kernel_size, "
      "int[] dilation, bool[] is_causal, float scale) -> (Tensor, Tensor)");
  m.def(
      "na_fused_backward(Tensor grad_out, Tensor q, Tensor k, Tensor v, Tensor? rpb, "
      "Tensor out, Tensor lse, int[] kernel_size, int[] dilation, bool[] is_causal, "
      "float scale) -> (Tensor, Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(vitrine, CompositeImplicitAutograd, m) {
  m.impl("na1d_qk.traceable", &qk_traceable<1>);
  m.impl("na2d_qk.traceable", &qk_traceable<2>);
  m.impl("na3d_qk.traceable", &qk_traceable<3>);
  m.impl("na1d_av.traceable", &av_traceable<1>);
  m.impl("na2d_av.traceable", &av_traceable<2>);
  m.impl("na3d_av.traceable", &av_traceable<3>);
  m.impl("na1d.traceable", &fused_traceable<1>);
  m.impl("na2d.traceable", &fused_traceable<2>);
  m.impl("na3d.traceable", &fused_traceable<3>);
}

TORCH_LIBRARY_IMPL(vitrine, CPU, m) {
  register_backend<&qk_cpu, &av_cpu, &fused_forward_cpu>(m, &qk_backward_cpu, &av_backward_cpu,
                                                         &fused_backward_cpu);
}

TORCH_LIBRARY_IMPL(vitrine, Autograd, m) {
  m.impl("na1d_qk", &qk_autograd<1>);
  m.impl("na2d_qk", &qk_autograd<2>);
  m.impl("na3d_qk", &qk_autograd<3>);
  m.impl("na1d_av", &av_autograd<1>);
  m.impl("na2d_av", &av_autograd<2>);
  m.impl("na3d_av", &av_autograd<3>);
  m.impl("na1d", &fused_autograd<1>);
  m.impl("na2d", &fused_autograd<2>);
  m.impl("na3d", &fused_autograd<3>);
}

}  // namespace vitrine::attention::na
