#include "attention/ops/na_problem.h"

#include <c10/util/Exception.h>

namespace vitrine::attention::na {
namespace {

int64_t pick(at::IntArrayRef values, int axis, const std::string& op, const char* what, int axes) {
  TORCH_CHECK(values.size() == 1 || static_cast<int>(values.size()) == axes, op, ": ", what,
              " must have 1 or ", axes, " entries, got ", values.size());
  return values.size() == 1 ? values[0] : values[axis];
}

}  // namespace

Problem describe(const std::string& op, int axes, const at::Tensor& q, at::IntArrayRef kernel_size,
                 at::IntArrayRef dilation, const c10::List<bool>& is_causal) {
  Problem p;
  p.op = op;
  p.axes = axes;
  TORCH_CHECK(q.defined(), op, ": query tensor is undefined");
  TORCH_CHECK(q.dim() == axes + 3, op, ": expected a ", axes + 3, "-D tensor [B, heads, ",
              axes == 1   ? "L"
              : axes == 2 ? "H, W"
                          : "D, H, W",
              ", dim], got shape ", q.sizes());
  TORCH_CHECK(q.is_floating_point(), op, ": expected a floating-point tensor, got ",
              q.scalar_type());
  p.dtype = q.scalar_type();
  p.device = q.device();
  p.batch = q.size(0);
  p.heads = q.size(1);
  p.dim = q.size(-1);
  p.value_dim = p.dim;
  TORCH_CHECK(is_causal.size() == 1 || static_cast<int>(is_causal.size()) == axes, op,
              ": is_causal must have 1 or ", axes, " entries, got ", is_causal.size());
  const int offset = kMaxAxes - axes;  // user axis a is canonical axis a + offset
  for (int a = 0; a < axes; ++a) {
    const int c = a + offset;
    p.length[c] = q.size(2 + a);
    p.kernel[c] = pick(kernel_size, a, op, "kernel_size", axes);
    p.dilation[c] = pick(dilation, a, op, "dilation", axes);
    p.causal[c] = is_causal.size() == 1 ? is_causal.get(0) : is_causal.get(a);
    TORCH_CHECK(p.kernel[c] >= 1, op, ": kernel_size must be >= 1 on axis ", a, ", got ",
                p.kernel[c]);
    TORCH_CHECK(p.kernel[c] % 2 == 1, op, ": kernel_size must be odd, got ", p.kernel[c],
                " on axis ", a);
    TORCH_CHECK(p.dilation[c] >= 1, op, ": dilation must be >= 1 on axis ", a, ", got ",
                p.dilation[c]);
    TORCH_CHECK(p.kernel[c] * p.dilation[c] <= p.length[c], op, ": kernel_size ", p.kernel[c],
                " * dilation ", p.dilation[c], " = ", p.kernel[c] * p.dilation[c],
                " exceeds the input length ", p.length[c], " on axis ", a,
                " (pad the input to at least kernel_size * dilation)");
  }
  return p;
}

std::string op_name(const char* stem, int axes) {
  return "na" + std::to_string(axes) + "d" + stem;
}

Problem describe_qk(const std::string& op, int axes, const at::Tensor& q, const at::Tensor& k,
                    const c10::optional<at::Tensor>& rpb, at::IntArrayRef kernel_size,
                    at::IntArrayRef dilation, const c10::List<bool>& is_causal) {
  Problem p = describe(op, axes, q, kernel_size, dilation, is_causal);
  check_like_query(p, k, "key");
  TORCH_CHECK(k.size(-1) == p.dim, op, ": key dim ", k.size(-1), " != query dim ", p.dim);
  if (rpb && rpb->defined()) check_rpb(p, *rpb);
  return p;
}

Problem describe_av(const std::string& op, int axes, const at::Tensor& attn, const at::Tensor& v,
                    at::IntArrayRef kernel_size, at::IntArrayRef dilation,
                    const c10::List<bool>& is_causal) {
  Problem p = describe(op, axes, attn, kernel_size, dilation, is_causal);
  check_attention(p, attn);
  check_like_query(p, v, "value");
  p.value_dim = v.size(-1);
  return p;
}

Problem describe_fused(const std::string& op, int axes, const at::Tensor& q, const at::Tensor& k,
                       const at::Tensor& v, const c10::optional<at::Tensor>& rpb,
                       at::IntArrayRef kernel_size, at::IntArrayRef dilation,
                       const c10::List<bool>& is_causal) {
  Problem p = describe_qk(op, axes, q, k, rpb, kernel_size, dilation, is_causal);
  check_like_query(p, v, "value");
  p.value_dim = v.size(-1);
  return p;
}

Geometry geometry(const Problem& p) {
  Geometry g;
  g.batch = p.batch;
  g.heads = p.heads;
  g.dim = p.dim;
  g.value_dim = p.value_dim;
  for (int a = 0; a < kMaxAxes; ++a) {
    g.length[a] = p.length[a];
    g.kernel[a] = p.kernel[a];
    g.dilation[a] = p.dilation[a];
    g.causal[a] = p.causal[a];
  }
  return g;
}

void check_like_query(const Problem& p, const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.defined(), p.op, ": ", name, " is undefined");
  TORCH_CHECK(t.dim() == p.axes + 3, p.op, ": ", name, " must be ", p.axes + 3,
              "-D like the query, got shape ", t.sizes());
  TORCH_CHECK(t.scalar_type() == p.dtype, p.op, ": ", name, " has dtype ", t.scalar_type(),
              " but the query has ", p.dtype);
  TORCH_CHECK(t.device() == p.device, p.op, ": ", name, " is on ", t.device(),
              " but the query is on ", p.device);
  bool same = t.size(0) == p.batch && t.size(1) == p.heads;
  for (int a = 0; a < p.axes; ++a) same = same && t.size(2 + a) == p.length[kMaxAxes - p.axes + a];
  TORCH_CHECK(same, p.op, ": ", name, " has shape ", t.sizes(),
              ", which does not match the query's batch, heads and spatial sizes");
}

void check_attention(const Problem& p, const at::Tensor& attn) {
  check_like_query(p, attn, "attn");
  TORCH_CHECK(attn.size(-1) == p.window_size(), p.op, ": attn must have ", p.window_size(),
              " weights per query (prod(kernel_size)), got ", attn.size(-1));
}

void check_rpb(const Problem& p, const at::Tensor& rpb) {
  TORCH_CHECK(!p.any_causal(), p.op,
              ": relative positional bias cannot be combined with causal masking");
  const auto expected = rpb_shape(p);
  TORCH_CHECK(rpb.sizes().vec() == expected, p.op, ": rpb must have shape ",
              at::IntArrayRef(expected), " (heads, 2*kernel_size-1 per axis), got ", rpb.sizes());
  TORCH_CHECK(rpb.scalar_type() == p.dtype, p.op, ": rpb has dtype ", rpb.scalar_type(),
              " but the query has ", p.dtype);
  TORCH_CHECK(rpb.device() == p.device, p.op, ": rpb is on ", rpb.device(), " but the query is on ",
              p.device);
}

at::Tensor canonical(const Problem& p, const at::Tensor& t) {
  return t.reshape({p.batch, p.heads, p.length[0], p.length[1], p.length[2], t.size(-1)})
      .contiguous();
}

at::Tensor canonical_rpb(const Problem& p, const at::Tensor& rpb) {
  return rpb.reshape({p.heads, p.bias_extent(0), p.bias_extent(1), p.bias_extent(2)}).contiguous();
}

std::vector<int64_t> user_shape(const Problem& p, int64_t last) {
  std::vector<int64_t> shape{p.batch, p.heads};
  for (int a = kMaxAxes - p.axes; a < kMaxAxes; ++a) shape.push_back(p.length[a]);
  shape.push_back(last);
  return shape;
}

std::vector<int64_t> rpb_shape(const Problem& p) {
  std::vector<int64_t> shape{p.heads};
  for (int a = kMaxAxes - p.axes; a < kMaxAxes; ++a) shape.push_back(p.bias_extent(a));
  return shape;
}

}  // namespace vitrine::attention::na
