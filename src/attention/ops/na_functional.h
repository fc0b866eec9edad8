// Functional neighborhood attention (NATTEN-style API) over the `vitrine::` custom ops.
// Tensors are heads-first: q, k, v [B, heads, *spatial, D]; attn [B, heads, *spatial,
// prod(kernel_size)] with the window in row-major order (axis 0 slowest). Per-axis lists
// (kernel_size, dilation, is_causal) may have one entry that applies to every axis.
//
//   attn = naNd_qk(q * scale, k, rpb, ...)   unscaled logits plus rpb (scale q first)
//   out  = naNd_av(softmax(attn), v, ...)
//   out  = naNd(q, k, v, rpb, ..., scale)    fused: softmax(q·k*scale + rpb) v
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include <functional>
#include <vector>

namespace vitrine::attention {

struct NaOptions {
  std::vector<int64_t> kernel_size{7};
  std::vector<int64_t> dilation{1};
  std::vector<bool> is_causal{false};
};

at::Tensor na1d_qk(const at::Tensor& q, const at::Tensor& k, const c10::optional<at::Tensor>& rpb,
                   const NaOptions& options);
at::Tensor na2d_qk(const at::Tensor& q, const at::Tensor& k, const c10::optional<at::Tensor>& rpb,
                   const NaOptions& options);
at::Tensor na3d_qk(const at::Tensor& q, const at::Tensor& k, const c10::optional<at::Tensor>& rpb,
                   const NaOptions& options);

at::Tensor na1d_av(const at::Tensor& attn, const at::Tensor& v, const NaOptions& options);
at::Tensor na2d_av(const at::Tensor& attn, const at::Tensor& v, const NaOptions& options);
at::Tensor na3d_av(const at::Tensor& attn, const at::Tensor& v, const NaOptions& options);

at::Tensor na1d(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                const c10::optional<at::Tensor>& rpb, const NaOptions& options, double scale);
at::Tensor na2d(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                const c10::optional<at::Tensor>& rpb, const NaOptions& options, double scale);
at::Tensor na3d(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                const c10::optional<at::Tensor>& rpb, const NaOptions& options, double scale);

// Dimension-generic forms: the number of spatial axes is q.dim() - 3.
at::Tensor na_qk(const at::Tensor& q, const at::Tensor& k, const c10::optional<at::Tensor>& rpb,
                 const NaOptions& options);
at::Tensor na_av(const at::Tensor& attn, const at::Tensor& v, const NaOptions& options);
at::Tensor neighborhood_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  const c10::optional<at::Tensor>& rpb, const NaOptions& options,
                                  double scale);

// q, k and v of a qkv projection [B, *spatial, 3 * heads * D] as [B, heads, *spatial, D]
// views (checked with na::packed_head_dim). Split with unbind rather than three selects: in
// backward it stacks the three gradients straight into qkv's layout, where selects would each
// zero-fill a qkv-sized tensor for autograd to add up.
std::vector<at::Tensor> split_packed_qkv(const at::Tensor& qkv, int64_t heads);

// The fused op on a qkv projection as its linear layer returns it: qkv [B, *spatial,
// 3 * heads * D] (q, k, v, each heads x D: unflatten(-1, {3, heads, D})) -> [B, *spatial,
// heads * D]; the same as splitting qkv into [B, heads, *spatial, D] tensors, calling
// neighborhood_attention and moving the heads back. Float32 CPU tensors (not traced, no
// override) take kernels that read and write these layouts in place (na_packed.h); anything
// else goes through neighborhood_attention.
at::Tensor neighborhood_attention_packed(const at::Tensor& qkv, int64_t heads,
                                         const c10::optional<at::Tensor>& rpb,
                                         const NaOptions& options, double scale);

// Stand-ins for the `vitrine::` ops (TorchScript export's portable flavour traces stock-op
// implementations through them). While an override is installed on a thread, every call of
// the functional API on that thread goes to it, with the per-axis lists expanded to one entry
// per spatial axis.
struct NaOverride {
  std::function<at::Tensor(const at::Tensor& q, const at::Tensor& k,
                           const c10::optional<at::Tensor>& rpb, const NaOptions& expanded)>
      qk;
  std::function<at::Tensor(const at::Tensor& attn, const at::Tensor& v, const NaOptions& expanded)>
      av;
};

class NaOverrideScope {
 public:
  explicit NaOverrideScope(const NaOverride* override);
  ~NaOverrideScope();
  NaOverrideScope(const NaOverrideScope&) = delete;
  NaOverrideScope& operator=(const NaOverrideScope&) = delete;

 private:
  const NaOverride* previous_;
};

}  // namespace vitrine::attention
