#include "attention/ops/na_functional.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/jit/frontend/tracer.h>

#include <string>

#include "attention/ops/na_packed.h"

namespace vitrine::attention {
namespace {

using at::IntArrayRef;
using at::Tensor;
using BoolList = c10::List<bool>;

c10::OperatorHandle op(const std::string& name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(("vitrine::" + name).c_str(), "");
}

// While TorchScript traces, the `.traceable` overloads (is_causal as int[]: the tracer cannot
// record bool lists) stand in for the ops.
bool tracing() {
  return torch::jit::tracer::isTracing();
}

c10::OperatorHandle traceable(const std::string& name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(("vitrine::" + name).c_str(), "traceable");
}

std::vector<int64_t> causal_ints(const NaOptions& o) {
  return std::vector<int64_t>(o.is_causal.begin(), o.is_causal.end());
}

std::string name_for(int64_t axes, const char* stem) {
  TORCH_CHECK(axes >= 1 && axes <= 3, "neighborhood attention: expected a 4-D, 5-D or 6-D ",
              "tensor [B, heads, *spatial, D], got ", axes + 3, "-D");
  return "na" + std::to_string(axes) + "d" + stem;
}

thread_local const NaOverride* active_override = nullptr;

// The options with every per-axis list at `axes` entries.
NaOptions expanded(int64_t axes, const NaOptions& o) {
  auto widen = [axes](auto list) {
    if (list.size() == 1) list.assign(static_cast<size_t>(axes), list.front());
    return list;
  };
  return {widen(o.kernel_size), widen(o.dilation), widen(o.is_causal)};
}

BoolList causal_list(const NaOptions& o) {
  BoolList list;
  for (bool c : o.is_causal) list.push_back(c);
  return list;
}

Tensor call_qk(int64_t axes, const Tensor& q, const Tensor& k, const c10::optional<Tensor>& rpb,
               const NaOptions& o) {
  if (active_override) return active_override->qk(q, k, rpb, expanded(axes, o));
  if (tracing())
    return traceable(name_for(axes, "_qk"))
        .typed<Tensor(const Tensor&, const Tensor&, const c10::optional<Tensor>&, IntArrayRef,
                      IntArrayRef, IntArrayRef)>()
        .call(q, k, rpb, o.kernel_size, o.dilation, causal_ints(o));
  return op(name_for(axes, "_qk"))
      .typed<Tensor(const Tensor&, const Tensor&, const c10::optional<Tensor>&, IntArrayRef,
                    IntArrayRef, const BoolList&)>()
      .call(q, k, rpb, o.kernel_size, o.dilation, causal_list(o));
}

Tensor call_av(int64_t axes, const Tensor& attn, const Tensor& v, const NaOptions& o) {
  if (active_override) return active_override->av(attn, v, expanded(axes, o));
  if (tracing())
    return traceable(name_for(axes, "_av"))
        .typed<Tensor(const Tensor&, const Tensor&, IntArrayRef, IntArrayRef, IntArrayRef)>()
        .call(attn, v, o.kernel_size, o.dilation, causal_ints(o));
  return op(name_for(axes, "_av"))
      .typed<Tensor(const Tensor&, const Tensor&, IntArrayRef, IntArrayRef, const BoolList&)>()
      .call(attn, v, o.kernel_size, o.dilation, causal_list(o));
}

Tensor call_fused(int64_t axes, const Tensor& q, const Tensor& k, const Tensor& v,
                  const c10::optional<Tensor>& rpb, const NaOptions& o, double scale) {
  if (active_override) {
    // softmax(q k * scale + rpb) v, as the fused op computes it.
    const NaOptions e = expanded(axes, o);
    return active_override->av(at::softmax(active_override->qk(q * scale, k, rpb, e), -1), v, e);
  }
  if (tracing())
    return traceable(name_for(axes, ""))
        .typed<Tensor(const Tensor&, const Tensor&, const Tensor&, const c10::optional<Tensor>&,
                      IntArrayRef, IntArrayRef, IntArrayRef, double)>()
        .call(q, k, v, rpb, o.kernel_size, o.dilation, causal_ints(o), scale);
  return op(name_for(axes, ""))
      .typed<Tensor(const Tensor&, const Tensor&, const Tensor&, const c10::optional<Tensor>&,
                    IntArrayRef, IntArrayRef, const BoolList&, double)>()
      .call(q, k, v, rpb, o.kernel_size, o.dilation, causal_list(o), scale);
}

}  // namespace

NaOverrideScope::NaOverrideScope(const NaOverride* override) : previous_(active_override) {
  active_override = override;
}

NaOverrideScope::~NaOverrideScope() {
  active_override = previous_;
}

Tensor na1d_qk(const Tensor& q, const Tensor& k, const c10::optional<Tensor>& rpb,
               const NaOptions& o) {
  return call_qk(1, q, k, rpb, o);
}
Tensor na2d_qk(const Tensor& q, const Tensor& k, const c10::optional<Tensor>& rpb,
               const NaOptions& o) {
  return call_qk(2, q, k, rpb, o);
}
Tensor na3d_qk(const Tensor& q, const Tensor& k, const c10::optional<Tensor>& rpb,
               const NaOptions& o) {
  return call_qk(3, q, k, rpb, o);
}
Tensor na1d_av(const Tensor& attn, const Tensor& v, const NaOptions& o) {
  return call_av(1, attn, v, o);
}
Tensor na2d_av(const Tensor& attn, const Tensor& v, const NaOptions& o) {
  return call_av(2, attn, v, o);
}
Tensor na3d_av(const Tensor& attn, const Tensor& v, const NaOptions& o) {
  return call_av(3, attn, v, o);
}
Tensor na1d(const Tensor& q, const Tensor& k, const Tensor& v, const c10::optional<Tensor>& rpb,
            const NaOptions& o, double scale) {
  return call_fused(1, q, k, v, rpb, o, scale);
}
Tensor na2d(const Tensor& q, const Tensor& k, const Tensor& v, const c10::optional<Tensor>& rpb,
            const NaOptions& o, double scale) {
  return call_fused(2, q, k, v, rpb, o, scale);
}
Tensor na3d(const Tensor& q, const Tensor& k, const Tensor& v, const c10::optional<Tensor>& rpb,
            const NaOptions& o, double scale) {
  return call_fused(3, q, k, v, rpb, o, scale);
}

Tensor na_qk(const Tensor& q, const Tensor& k, const c10::optional<Tensor>& rpb,
             const NaOptions& o) {
  return call_qk(q.dim() - 3, q, k, rpb, o);
}
Tensor na_av(const Tensor& attn, const Tensor& v, const NaOptions& o) {
  return call_av(attn.dim() - 3, attn, v, o);
}
Tensor neighborhood_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                              const c10::optional<Tensor>& rpb, const NaOptions& o, double scale) {
  return call_fused(q.dim() - 3, q, k, v, rpb, o, scale);
}

std::vector<Tensor> split_packed_qkv(const Tensor& qkv, int64_t heads) {
  const int64_t dim = na::packed_head_dim(qkv, heads);
  std::vector<Tensor> split = qkv.unflatten(-1, {3, heads, dim}).unbind(qkv.dim() - 1);
  for (Tensor& t : split) t = t.movedim(-2, 1);
  return split;
}

Tensor neighborhood_attention_packed(const Tensor& qkv, int64_t heads,
                                     const c10::optional<Tensor>& rpb, const NaOptions& o,
                                     double scale) {
  na::packed_head_dim(qkv, heads);
  const int64_t axes = qkv.dim() - 2;
  const bool rpb_float = !rpb || !rpb->defined() || rpb->scalar_type() == at::kFloat;
  if (!active_override && !tracing() && qkv.device().is_cpu() && qkv.scalar_type() == at::kFloat &&
      rpb_float) {
    const NaOptions e = expanded(axes, o);
    return na::packed_fused_cpu(qkv, heads, rpb, e.kernel_size, e.dilation, e.is_causal, scale);
  }
  const std::vector<Tensor> split = split_packed_qkv(qkv, heads);
  const Tensor out = call_fused(axes, split[0], split[1], split[2], rpb, o, scale);
  return out.movedim(1, -2).flatten(-2);
}

}  // namespace vitrine::attention
