#include "layers/nms.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <vector>

namespace vitrine::layers {
namespace {

void check_inputs(const at::Tensor& boxes, const at::Tensor& scores) {
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 4, "nms: boxes must be [N, 4], got ",
              boxes.sizes());
  TORCH_CHECK(scores.dim() == 1 && scores.size(0) == boxes.size(0), "nms: scores must be [",
              boxes.size(0), "], got ", scores.sizes());
  TORCH_CHECK(boxes.is_floating_point() && scores.is_floating_point(),
              "nms: boxes and scores must be floating point");
}

template <typename T>
at::Tensor nms_kernel(const at::Tensor& boxes_in, const at::Tensor& scores, double threshold) {
  const at::Tensor boxes = boxes_in.contiguous();
  const int64_t n = boxes.size(0);
  const at::Tensor order =
      std::get<1>(at::sort(scores, /*stable=*/true, /*dim=*/0, /*descending=*/true)).contiguous();
  const T* b = boxes.data_ptr<T>();
  const int64_t* ord = order.data_ptr<int64_t>();
  std::vector<T> area(n);
  for (int64_t i = 0; i < n; ++i)
    area[i] = (b[4 * i + 2] - b[4 * i]) * (b[4 * i + 3] - b[4 * i + 1]);
  std::vector<char> suppressed(n, 0);
  std::vector<int64_t> keep;
  for (int64_t a = 0; a < n; ++a) {
    const int64_t i = ord[a];
    if (suppressed[i]) continue;
    keep.push_back(i);
    for (int64_t c = a + 1; c < n; ++c) {
      const int64_t j = ord[c];
      if (suppressed[j]) continue;
      const T w =
          std::max<T>(0, std::min(b[4 * i + 2], b[4 * j + 2]) - std::max(b[4 * i], b[4 * j]));
      const T h = std::max<T>(
          0, std::min(b[4 * i + 3], b[4 * j + 3]) - std::max(b[4 * i + 1], b[4 * j + 1]));
      const T inter = w * h;
      const T iou = inter / (area[i] + area[j] - inter);
      if (iou > threshold) suppressed[j] = 1;
    }
  }
  return at::tensor(keep, at::kLong);
}

at::Tensor nms_cpu(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold) {
  check_inputs(boxes, scores);
  if (boxes.size(0) == 0) return at::empty({0}, at::kLong);
  at::Tensor out;
  AT_DISPATCH_FLOATING_TYPES(boxes.scalar_type(), "vitrine::nms", [&] {
    out = nms_kernel<scalar_t>(boxes, scores.to(boxes.scalar_type()), iou_threshold);
  });
  return out;
}

// torchvision's batched NMS: offset every class's boxes past all the others' so boxes of
// different classes cannot overlap, then one NMS.
at::Tensor batched_nms_any(const at::Tensor& boxes, const at::Tensor& scores,
                           const at::Tensor& idxs, double iou_threshold) {
  check_inputs(boxes, scores);
  TORCH_CHECK(idxs.dim() == 1 && idxs.size(0) == boxes.size(0), "batched_nms: idxs must be [",
              boxes.size(0), "], got ", idxs.sizes());
  if (boxes.size(0) == 0) return at::empty({0}, boxes.options().dtype(at::kLong));
  const at::Tensor offsets = idxs.to(boxes.scalar_type()) * (boxes.max() + 1);
  return nms(boxes + offsets.unsqueeze(1), scores, iou_threshold);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(vitrine, m) {
  m.def("nms(Tensor boxes, Tensor scores, float iou_threshold) -> Tensor");
  m.def("batched_nms(Tensor boxes, Tensor scores, Tensor idxs, float iou_threshold) -> Tensor");
}

TORCH_LIBRARY_IMPL(vitrine, CPU, m) {
  m.impl("nms", nms_cpu);
}

TORCH_LIBRARY_IMPL(vitrine, CompositeImplicitAutograd, m) {
  m.impl("batched_nms", batched_nms_any);
}

at::Tensor nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("vitrine::nms", "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&, double)>();
  return op.call(boxes, scores, iou_threshold);
}

at::Tensor batched_nms(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs,
                       double iou_threshold) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("vitrine::batched_nms", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, double)>();
  return op.call(boxes, scores, idxs, iou_threshold);
}

}  // namespace vitrine::layers
