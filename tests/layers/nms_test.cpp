// NMS against a reference written from the definition (repeatedly keep the best remaining box,
// drop the boxes overlapping it by IoU > threshold), a hand-worked case, and class-aware
// batching against NMS per class.
#include "layers/nms.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace vitrine::layers {
namespace {

double iou(const at::Tensor& a, const at::Tensor& b) {
  const double ax1 = a[0].item<double>(), ay1 = a[1].item<double>(), ax2 = a[2].item<double>(),
               ay2 = a[3].item<double>();
  const double bx1 = b[0].item<double>(), by1 = b[1].item<double>(), bx2 = b[2].item<double>(),
               by2 = b[3].item<double>();
  const double w = std::max(0.0, std::min(ax2, bx2) - std::max(ax1, bx1));
  const double h = std::max(0.0, std::min(ay2, by2) - std::max(ay1, by1));
  const double inter = w * h;
  return inter / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter);
}

std::vector<int64_t> reference_nms(const at::Tensor& boxes, const at::Tensor& scores, double t) {
  std::vector<int64_t> remaining(boxes.size(0)), keep;
  for (size_t i = 0; i < remaining.size(); ++i) remaining[i] = static_cast<int64_t>(i);
  while (!remaining.empty()) {
    int64_t best = remaining[0];
    for (int64_t i : remaining)
      if (scores[i].item<double>() > scores[best].item<double>()) best = i;  // first on ties
    keep.push_back(best);
    std::vector<int64_t> next;
    for (int64_t i : remaining)
      if (i != best && iou(boxes[best], boxes[i]) <= t) next.push_back(i);
    remaining = next;
  }
  return keep;
}

std::vector<int64_t> as_vector(const at::Tensor& t) {
  return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
}

at::Tensor random_boxes(int64_t n) {
  const at::Tensor xy = at::rand({n, 2}, at::kDouble) * 50;
  const at::Tensor wh = at::rand({n, 2}, at::kDouble) * 30 + 1;
  return at::cat({xy, xy + wh}, 1);
}

TEST(Nms, HandWorkedCase) {
  // Box 1 overlaps box 0 by IoU 81 / (100 + 90 - 81) = 0.743; box 2 is apart.
  const at::Tensor boxes =
      at::tensor({0.0, 0.0, 10.0, 10.0, 1.0, 1.0, 11.0, 10.0, 20.0, 20.0, 30.0, 30.0}, at::kDouble)
          .view({3, 4});
  const at::Tensor scores = at::tensor({0.9, 0.95, 0.5}, at::kDouble);
  EXPECT_EQ(as_vector(nms(boxes, scores, 0.5)), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(as_vector(nms(boxes, scores, 0.75)), (std::vector<int64_t>{1, 0, 2}));
  EXPECT_EQ(nms(boxes.narrow(0, 0, 0), scores.narrow(0, 0, 0), 0.5).numel(), 0);
}

TEST(Nms, MatchesTheGreedyDefinition) {
  for (double t : {0.3, 0.5, 0.7}) {
    SCOPED_TRACE(t);
    const at::Tensor boxes = random_boxes(60);
    at::Tensor scores = at::rand({60}, at::kDouble);
    scores.narrow(0, 10, 5).fill_(0.5);  // ties: lower index first
    EXPECT_EQ(as_vector(nms(boxes, scores, t)), reference_nms(boxes, scores, t));
    EXPECT_EQ(as_vector(nms(boxes.to(at::kFloat), scores.to(at::kFloat), t)),
              reference_nms(boxes, scores, t));
  }
  // Inputs that require gradients are fine (the result is indices).
  const at::Tensor boxes = random_boxes(5).requires_grad_(true);
  EXPECT_NO_THROW(nms(boxes, at::rand({5}, at::kDouble), 0.5));
}

TEST(Nms, BatchedIsNmsPerClass) {
  const at::Tensor boxes = random_boxes(80);
  const at::Tensor scores = at::rand({80}, at::kDouble);
  const at::Tensor classes = at::randint(0, 4, {80}, at::kLong);
  const std::vector<int64_t> got = as_vector(batched_nms(boxes, scores, classes, 0.5));
  std::vector<int64_t> want;
  for (int64_t c = 0; c < 4; ++c) {
    const at::Tensor members = at::nonzero(classes == c).squeeze(1);
    for (int64_t local :
         reference_nms(boxes.index_select(0, members), scores.index_select(0, members), 0.5))
      want.push_back(members[local].item<int64_t>());
  }
  std::stable_sort(want.begin(), want.end(), [&](int64_t a, int64_t b) {
    return scores[a].item<double>() > scores[b].item<double>();
  });
  EXPECT_EQ(got, want);
  EXPECT_THROW(batched_nms(boxes, scores, classes.narrow(0, 0, 5), 0.5), c10::Error);
}

}  // namespace
}  // namespace vitrine::layers
