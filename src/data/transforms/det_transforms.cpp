#include "data/transforms/det_transforms.h"

#include <algorithm>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

namespace vitrine::data {
namespace {

void scale_boxes(std::vector<Box>& boxes, double sx, double sy, int w, int h) {
  for (Box& b : boxes) {
    b = {b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy};
    b[0] = std::clamp(b[0], 0.0, static_cast<double>(w));
    b[2] = std::clamp(b[2], 0.0, static_cast<double>(w));
    b[1] = std::clamp(b[1], 0.0, static_cast<double>(h));
    b[3] = std::clamp(b[3], 0.0, static_cast<double>(h));
  }
}

}  // namespace

std::pair<int, int> keep_ratio_size(int width, int height, int long_edge, int short_edge) {
  const double factor = std::min(static_cast<double>(long_edge) / std::max(width, height),
                                 static_cast<double>(short_edge) / std::min(width, height));
  return {static_cast<int>(width * factor + 0.5), static_cast<int>(height * factor + 0.5)};
}

void coco_targets(const std::vector<const CocoAnnotation*>& annotations,
                  const std::vector<std::pair<int64_t, int64_t>>& category_index, DetSample& out) {
  for (const CocoAnnotation* a : annotations) {
    const double x1 = a->bbox[0], y1 = a->bbox[1], w = a->bbox[2], h = a->bbox[3];
    if (a->area <= 0 || w < 1 || h < 1) continue;
    const Box box{x1, y1, x1 + w, y1 + h};
    if (a->iscrowd) {
      out.ignored.push_back(box);
      continue;
    }
    int64_t label = -1;
    for (const auto& [id, index] : category_index)
      if (id == a->category_id) label = index;
    if (label < 0) continue;  // a category outside the training set
    out.boxes.push_back(box);
    out.labels.push_back(label);
  }
}

void resize_keep_ratio(DetSample& s, int long_edge, int short_edge) {
  const int w = s.image.cols, h = s.image.rows;
  const auto [nw, nh] = keep_ratio_size(w, h, long_edge, short_edge);
  cv::Mat resized;
  cv::resize(s.image, resized, cv::Size(nw, nh), 0, 0, cv::INTER_LINEAR);
  s.image = resized;
  const double sx = static_cast<double>(nw) / w, sy = static_cast<double>(nh) / h;
  scale_boxes(s.boxes, sx, sy, nw, nh);
  scale_boxes(s.ignored, sx, sy, nw, nh);
}

void flip_horizontal(DetSample& s) {
  cv::flip(s.image, s.image, 1);
  const double w = s.image.cols;
  for (auto* list : {&s.boxes, &s.ignored})
    for (Box& b : *list) b = {w - b[2], b[1], w - b[0], b[3]};
}

void pad_to_multiple(DetSample& s, int divisor) {
  if (divisor < 1) throw std::invalid_argument("pad: the size divisor must be positive");
  const int h = (s.image.rows + divisor - 1) / divisor * divisor;
  const int w = (s.image.cols + divisor - 1) / divisor * divisor;
  cv::copyMakeBorder(s.image, s.image, 0, h - s.image.rows, 0, w - s.image.cols,
                     cv::BORDER_CONSTANT, cv::Scalar::all(0));
}

}  // namespace vitrine::data
