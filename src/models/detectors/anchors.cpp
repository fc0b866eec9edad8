#include "models/detectors/anchors.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cmath>

namespace vitrine::models {

at::Tensor base_anchors(const AnchorOptions& o, int64_t stride) {
  std::vector<double> values;
  for (double ratio : o.ratios) {
    const double h_ratio = std::sqrt(ratio), w_ratio = 1.0 / h_ratio;
    for (int s = 0; s < o.scales_per_octave; ++s) {
      const double scale =
          o.octave_base_scale * std::pow(2.0, static_cast<double>(s) / o.scales_per_octave);
      const double w = stride * w_ratio * scale, h = stride * h_ratio * scale;
      values.insert(values.end(), {-0.5 * w, -0.5 * h, 0.5 * w, 0.5 * h});
    }
  }
  return at::tensor(values, at::kDouble).view({-1, 4}).to(at::kFloat);
}

at::Tensor grid_anchors(const AnchorOptions& o,
                        const std::vector<std::pair<int64_t, int64_t>>& feature_sizes) {
  TORCH_CHECK(feature_sizes.size() == o.strides.size(), "anchors: ", feature_sizes.size(),
              " feature levels for ", o.strides.size(), " strides");
  std::vector<at::Tensor> levels;
  for (size_t l = 0; l < feature_sizes.size(); ++l) {
    const int64_t stride = o.strides[l];
    const auto [h, w] = feature_sizes[l];
    const at::Tensor xs = at::arange(w, at::kFloat) * static_cast<double>(stride);
    const at::Tensor ys = at::arange(h, at::kFloat) * static_cast<double>(stride);
    const at::Tensor sx = xs.repeat({h}), sy = ys.repeat_interleave(w);  // row-major cells
    const at::Tensor shifts = at::stack({sx, sy, sx, sy}, 1);            // [H W, 4]
    levels.push_back((shifts.unsqueeze(1) + base_anchors(o, stride).unsqueeze(0)).reshape({-1, 4}));
  }
  return at::cat(levels, 0);
}

at::Tensor encode_boxes(const at::Tensor& anchors, const at::Tensor& boxes) {
  const at::Tensor pw = anchors.select(1, 2) - anchors.select(1, 0);
  const at::Tensor ph = anchors.select(1, 3) - anchors.select(1, 1);
  const at::Tensor px = (anchors.select(1, 0) + anchors.select(1, 2)) * 0.5;
  const at::Tensor py = (anchors.select(1, 1) + anchors.select(1, 3)) * 0.5;
  const at::Tensor gw = boxes.select(1, 2) - boxes.select(1, 0);
  const at::Tensor gh = boxes.select(1, 3) - boxes.select(1, 1);
  const at::Tensor gx = (boxes.select(1, 0) + boxes.select(1, 2)) * 0.5;
  const at::Tensor gy = (boxes.select(1, 1) + boxes.select(1, 3)) * 0.5;
  return at::stack({(gx - px) / pw, (gy - py) / ph, at::log(gw / pw), at::log(gh / ph)}, 1);
}

at::Tensor decode_boxes(const at::Tensor& anchors, const at::Tensor& deltas) {
  const double max_ratio = std::abs(std::log(16.0 / 1000));
  const at::Tensor pw = anchors.select(1, 2) - anchors.select(1, 0);
  const at::Tensor ph = anchors.select(1, 3) - anchors.select(1, 1);
  const at::Tensor px = (anchors.select(1, 0) + anchors.select(1, 2)) * 0.5;
  const at::Tensor py = (anchors.select(1, 1) + anchors.select(1, 3)) * 0.5;
  const at::Tensor dw = deltas.select(1, 2).clamp(-max_ratio, max_ratio);
  const at::Tensor dh = deltas.select(1, 3).clamp(-max_ratio, max_ratio);
  const at::Tensor gx = px + pw * deltas.select(1, 0), gy = py + ph * deltas.select(1, 1);
  const at::Tensor gw = pw * at::exp(dw), gh = ph * at::exp(dh);
  return at::stack({gx - gw * 0.5, gy - gh * 0.5, gx + gw * 0.5, gy + gh * 0.5}, 1);
}

at::Tensor box_iou(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor area_a = (a.select(1, 2) - a.select(1, 0)) * (a.select(1, 3) - a.select(1, 1));
  const at::Tensor area_b = (b.select(1, 2) - b.select(1, 0)) * (b.select(1, 3) - b.select(1, 1));
  const at::Tensor lt = at::max(a.unsqueeze(1).narrow(2, 0, 2), b.unsqueeze(0).narrow(2, 0, 2));
  const at::Tensor rb = at::min(a.unsqueeze(1).narrow(2, 2, 2), b.unsqueeze(0).narrow(2, 2, 2));
  const at::Tensor wh = (rb - lt).clamp_min(0);
  const at::Tensor inter = wh.select(2, 0) * wh.select(2, 1);
  return inter / (area_a.unsqueeze(1) + area_b.unsqueeze(0) - inter).clamp_min(1e-6);
}

}  // namespace vitrine::models
