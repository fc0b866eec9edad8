#include "attention/ops/na_functional.h"

#include <ATen/core/dispatch/Dispatcher.h>

#include <string>

namespace vitrine::attention {
namespace {

using at::IntArrayRef;
using at::Tensor;
using BoolList = c10::List<bool>;

c10::OperatorHandle op(const std::string& name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(("vitrine::" + name).c_str(), "");
}

std::string name_for(int64_t axes, const char* stem) {
  TORCH_CHECK(axes >= 1 && axes <= 3, "neighborhood attention: expected a 4-D, 5-D or 6-D ",
              "tensor [B, heads, *spatial, D], got ", axes + 3, "-D");
  return "na" + std::to_string(axes) + "d" + stem;
}

BoolList causal_list(const NaOptions& o) {
  BoolList list;
  for (bool c : o.is_causal) list.push_back(c);
  return list;
}

Tensor call_qk(int64_t axes, const Tensor& q, const Tensor& k, const c10::optional<Tensor>& rpb,
               const NaOptions& o) {
  return op(name_for(axes, "_qk"))
      .typed<Tensor(const Tensor&, const Tensor&, const c10::optional<Tensor>&, IntArrayRef,
                    IntArrayRef, const BoolList&)>()
      .call(q, k, rpb, o.kernel_size, o.dilation, causal_list(o));
}

Tensor call_av(int64_t axes, const Tensor& attn, const Tensor& v, const NaOptions& o) {
  return op(name_for(axes, "_av"))
      .typed<Tensor(const Tensor&, const Tensor&, IntArrayRef, IntArrayRef, const BoolList&)>()
      .call(attn, v, o.kernel_size, o.dilation, causal_list(o));
}

Tensor call_fused(int64_t axes, const Tensor& q, const Tensor& k, const Tensor& v,
                  const c10::optional<Tensor>& rpb, const NaOptions& o, double scale) {
  return op(name_for(axes, ""))
      .typed<Tensor(const Tensor&, const Tensor&, const Tensor&, const c10::optional<Tensor>&,
                    IntArrayRef, IntArrayRef, const BoolList&, double)>()
      .call(q, k, v, rpb, o.kernel_size, o.dilation, causal_list(o), scale);
}

}  // namespace

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

}  // namespace vitrine::attention
