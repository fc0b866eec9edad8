#include "attention/ops/na_packed.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include "attention/ops/na_cpu.h"
#include "attention/ops/na_functional.h"
#include "attention/ops/na_problem.h"

namespace vitrine::attention::na {
namespace {

using at::Tensor;
using c10::optional;
using BoolList = c10::List<bool>;

// Slice `which` of qkv [B, *spatial, 3 * heads * D] as [B, heads, L0, L1, L2, D].
Tensor canonical_slice(const Problem& p, const Tensor& qkv, int which) {
  return qkv.view({p.batch, p.length[0], p.length[1], p.length[2], 3, p.heads, p.dim})
      .select(4, which)
      .permute({0, 4, 1, 2, 3, 5});
}

// x [B, *spatial, heads * X] as [B, heads, L0, L1, L2, X].
Tensor canonical_heads(const Problem& p, const Tensor& x) {
  return x.view({p.batch, p.length[0], p.length[1], p.length[2], p.heads, -1})
      .permute({0, 4, 1, 2, 3, 5});
}

Problem describe_packed(const Tensor& qkv, int64_t heads, const optional<Tensor>& rpb,
                        at::IntArrayRef kernel, at::IntArrayRef dilation, const BoolList& causal) {
  const std::vector<Tensor> split = split_packed_qkv(qkv, heads);  // validates the shape
  const int n = static_cast<int>(qkv.dim() - 2);
  return describe_fused(op_name("", n), n, split[0], split[1], split[2], rpb, kernel, dilation,
                        causal);
}

class PackedFunction : public torch::autograd::Function<PackedFunction> {
 public:
  // rpb travels as an optional (see QkFunction in na_ops.cpp).
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& qkv,
                        const optional<Tensor>& rpb, int64_t heads, at::IntArrayRef kernel,
                        at::IntArrayRef dilation, const BoolList& causal, double scale) {
    at::AutoDispatchBelowADInplaceOrView guard;
    const Problem p = describe_packed(qkv, heads, rpb, kernel, dilation, causal);
    std::vector<int64_t> out_shape = qkv.sizes().vec();
    out_shape.back() = p.heads * p.value_dim;
    Tensor out = at::empty(out_shape, qkv.options());
    Tensor lse =
        at::empty({p.batch, p.heads, p.length[0], p.length[1], p.length[2]}, qkv.options());
    const bool has_rpb = rpb && rpb->defined();
    Tensor out_rows = canonical_heads(p, out);
    cpu::fused_forward(p, canonical_slice(p, qkv, 0), canonical_slice(p, qkv, 1),
                       canonical_slice(p, qkv, 2), has_rpb ? canonical_rpb(p, *rpb) : Tensor(),
                       scale, out_rows, lse);
    ctx->save_for_backward({qkv, has_rpb ? *rpb : Tensor(), out, lse});
    ctx->saved_data["heads"] = heads;
    ctx->saved_data["kernel"] = kernel.vec();
    ctx->saved_data["dilation"] = dilation.vec();
    ctx->saved_data["causal"] = causal;
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const Tensor &qkv = s[0], &rpb = s[1], &out = s[2], &lse = s[3];
    const bool has_rpb = rpb.defined();
    const Problem p = describe_packed(
        qkv, ctx->saved_data["heads"].toInt(), has_rpb ? optional<Tensor>(rpb) : c10::nullopt,
        ctx->saved_data["kernel"].toIntVector(), ctx->saved_data["dilation"].toIntVector(),
        ctx->saved_data["causal"].toBoolList());
    const Tensor grad_out = grads[0].contiguous();
    Tensor grad_qkv = at::empty_like(qkv, at::MemoryFormat::Contiguous);
    Tensor dq = canonical_slice(p, grad_qkv, 0), dk = canonical_slice(p, grad_qkv, 1),
           dv = canonical_slice(p, grad_qkv, 2);
    Tensor grad_rpb =
        has_rpb ? at::empty({p.heads, p.bias_extent(0), p.bias_extent(1), p.bias_extent(2)},
                            rpb.options())
                : Tensor();
    cpu::fused_backward(p, canonical_heads(p, grad_out), canonical_slice(p, qkv, 0),
                        canonical_slice(p, qkv, 1), canonical_slice(p, qkv, 2),
                        has_rpb ? canonical_rpb(p, rpb) : Tensor(), canonical_heads(p, out), lse,
                        ctx->saved_data["scale"].toDouble(), dq, dk, dv, grad_rpb);
    return {grad_qkv, has_rpb ? grad_rpb.view(rpb.sizes()) : Tensor(),
            Tensor(), Tensor(),
            Tensor(), Tensor(),
            Tensor()};
  }
};

}  // namespace

int64_t packed_head_dim(const Tensor& qkv, int64_t heads) {
  const int64_t axes = qkv.dim() - 2;
  TORCH_CHECK(axes >= 1 && axes <= 3,
              "neighborhood attention (packed qkv): expected [B, *spatial, 3 * heads * D] with 1 "
              "to 3 spatial axes, got shape ",
              qkv.sizes());
  TORCH_CHECK(heads >= 1 && qkv.size(-1) % (3 * heads) == 0,
              "neighborhood attention (packed qkv): the last axis (", qkv.size(-1),
              ") must be 3 x heads (", heads, ") x head_dim");
  return qkv.size(-1) / (3 * heads);
}

Tensor packed_fused_cpu(const Tensor& qkv, int64_t heads, const optional<Tensor>& rpb,
                        const std::vector<int64_t>& kernel_size,
                        const std::vector<int64_t>& dilation, const std::vector<bool>& is_causal,
                        double scale) {
  TORCH_CHECK(qkv.device().is_cpu() && qkv.scalar_type() == at::kFloat,
              "neighborhood attention (packed qkv): the packed kernels need a float32 CPU tensor, "
              "got ",
              qkv.scalar_type(), " on ", qkv.device());
  BoolList causal;
  for (bool c : is_causal) causal.push_back(c);
  return PackedFunction::apply(qkv.contiguous(), rpb, heads, kernel_size, dilation, causal, scale);
}

}  // namespace vitrine::attention::na
