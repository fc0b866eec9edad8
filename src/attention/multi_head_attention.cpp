#include "attention/multi_head_attention.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace vitrine::attention {

namespace {

at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale) {
  return at::matmul(at::softmax(at::matmul(q, k.transpose(-2, -1)) * scale, -1), v);
}

at::Tensor attend_in_slices(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            double scale, int64_t max_logits, int64_t axis) {
  const int64_t leading = q.dim() - 2;
  int64_t logits = q.size(-2) * k.size(-2);
  for (int64_t d = axis; d < leading; ++d) logits *= q.size(d);
  // Past the leading axes, or small enough: one matmul-softmax-matmul.
  if (axis >= leading || logits <= max_logits) return attend(q, k, v, scale);
  const int64_t n = q.size(axis);
  if (n == 1) return attend_in_slices(q, k, v, scale, max_logits, axis + 1);
  const int64_t per_row = logits / n;
  const int64_t rows = std::max<int64_t>(1, max_logits / std::max<int64_t>(per_row, 1));
  std::vector<at::Tensor> parts;
  for (int64_t start = 0; start < n; start += rows) {
    const int64_t len = std::min(rows, n - start);
    auto slice = [&](const at::Tensor& t) {
      return t.size(axis) == 1 ? t : t.narrow(axis, start, len);
    };
    parts.push_back(attend_in_slices(q.narrow(axis, start, len), slice(k), slice(v), scale,
                                     max_logits, axis + 1));
  }
  return at::cat(parts, axis);
}

}  // namespace

at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k,
                                        const at::Tensor& v, int64_t max_logits) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  TORCH_CHECK(k.dim() == q.dim() && v.dim() == q.dim(),
              "scaled_dot_product_attention: q, k, v need the same number of axes");
  return attend_in_slices(q, k, v, scale, max_logits, 0);
}

at::Tensor multi_head_self_attention(const at::Tensor& x, torch::nn::Linear& in,
                                     torch::nn::Linear& out, int64_t heads, double scale,
                                     layers::Dropout& drop_attn, layers::Dropout& drop_out) {
  const int64_t c = x.size(-1), d = c / heads;
  const int64_t t = x.size(-2);
  std::vector<int64_t> lead(x.sizes().begin(), x.sizes().end() - 2);
  std::vector<int64_t> shape = lead;
  shape.insert(shape.end(), {t, 3, heads, d});
  // [..., T, 3, H, d] -> [3, ..., H, T, d]
  at::Tensor qkv_out = in->forward(x).reshape(shape);
  const int64_t r = qkv_out.dim();  // lead + 4
  std::vector<int64_t> perm{r - 3};
  for (int64_t i = 0; i < r - 4; ++i) perm.push_back(i);
  perm.insert(perm.end(), {r - 2, r - 4, r - 1});
  // unbind: one stacked gradient in backward instead of three zero-filled qkv-sized ones.
  const std::vector<at::Tensor> qkv_split = qkv_out.permute(perm).unbind(0);
  const at::Tensor attn = drop_attn->forward(
      at::softmax(at::matmul(qkv_split[0], qkv_split[1].transpose(-2, -1)) * scale, -1));
  // [..., H, T, d] -> [..., T, H*d]
  at::Tensor y = at::matmul(attn, qkv_split[2]).transpose(-3, -2);
  std::vector<int64_t> merged = lead;
  merged.insert(merged.end(), {t, c});
  return drop_out->forward(out->forward(y.reshape(merged)));
}

}  // namespace vitrine::attention
