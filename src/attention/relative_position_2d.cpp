#include "attention/relative_position_2d.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "layers/weight_init.h"

namespace vitrine::attention {
namespace {

// index[i][j] = j - i + keys - 1: the table row of key j for query i.
at::Tensor relative_index(int64_t queries, int64_t keys, const at::Device& device) {
  const at::Tensor i = at::arange(queries, at::TensorOptions(at::kLong).device(device));
  const at::Tensor j = at::arange(keys, at::TensorOptions(at::kLong).device(device));
  return j.unsqueeze(0) - i.unsqueeze(1) + (keys - 1);
}

}  // namespace

RelativePosition2dImpl::RelativePosition2dImpl(int64_t query_h, int64_t query_w, int64_t key_h,
                                               int64_t key_w, int64_t dim_head, double init_std)
    : query_h_(query_h), query_w_(query_w), key_h_(key_h), key_w_(key_w), init_std_(init_std) {
  TORCH_CHECK(query_h > 0 && query_w > 0 && key_h > 0 && key_w > 0 && dim_head > 0,
              "RelativePosition2d: sizes must be positive");
  height_rel = register_parameter("height_rel", at::empty({2 * key_h - 1, dim_head}));
  width_rel = register_parameter("width_rel", at::empty({2 * key_w - 1, dim_head}));
  reset_parameters();
}

void RelativePosition2dImpl::reset_parameters() {
  at::NoGradGuard no_grad;
  layers::trunc_normal_(height_rel, init_std_);
  layers::trunc_normal_(width_rel, init_std_);
}

at::Tensor RelativePosition2dImpl::forward(const at::Tensor& q) {
  const int64_t qh = query_h_, qw = query_w_, kh = key_h_, kw = key_w_;
  TORCH_CHECK(q.dim() >= 2 && q.size(-2) == qh * qw && q.size(-1) == height_rel.size(1),
              "RelativePosition2d: expected [..., ", qh * qw, ", ", height_rel.size(1),
              "] queries, got shape ", q.sizes());
  const int64_t d = q.size(-1);
  const at::Tensor grid = q.reshape({-1, qh, qw, d});  // [N, y, x, d]
  const int64_t n = grid.size(0);
  // Width: key column kx of query column x reads width_rel[kx - x + kw - 1].
  const at::Tensor width =
      at::matmul(grid, width_rel.t())
          .gather(3,
                  relative_index(qw, kw, q.device()).view({1, 1, qw, kw}).expand({n, qh, qw, kw}));
  // Height: key row ky of query row y reads height_rel[ky - y + kh - 1].
  const at::Tensor height =
      at::matmul(grid, height_rel.t())
          .gather(3,
                  relative_index(qh, kh, q.device()).view({1, qh, 1, kh}).expand({n, qh, qw, kh}));
  // [N, y, x, ky, kx] -> [..., y * x, ky * kx]
  std::vector<int64_t> shape(q.sizes().begin(), q.sizes().end());
  shape.back() = kh * kw;
  return (height.unsqueeze(-1) + width.unsqueeze(-2)).reshape(shape);
}

}  // namespace vitrine::attention
