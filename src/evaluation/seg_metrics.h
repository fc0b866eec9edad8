// Semantic segmentation metrics as mmsegmentation computes them (mmseg/core/evaluation/
// metrics.py): per class, intersection, union, predicted and labelled areas accumulated over
// the whole dataset (not averaged per image), pixels labelled `ignore_index` left out; then
//   aAcc = sum(intersect) / sum(area_label), IoU_c = intersect_c / union_c,
//   Acc_c = intersect_c / area_label_c, mIoU / mAcc = means over classes that are not NaN
//   (a class with zero union, or no labelled pixels for Acc, drops out of the mean).
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <vector>

namespace vitrine::evaluation {

class SegmentationMeter {
 public:
  explicit SegmentationMeter(int64_t num_classes, int64_t ignore_index = 255);
  // prediction and label: integer maps of the same shape (any leading dims).
  void add(const at::Tensor& prediction, const at::Tensor& label);
  // Replaces the accumulated areas by their sums over the ranks of a distributed evaluation
  // (`sum`: element-wise sums, called once).
  void combine(const std::function<std::vector<double>(const std::vector<double>&)>& sum);

  double aacc() const;
  double miou() const;
  double macc() const;
  std::vector<double> iou() const;  // NaN where the union is zero
  std::vector<double> acc() const;  // NaN where no pixel is labelled with the class
  // mmseg's per-class table (Class | IoU | Acc, in percent) and the summary line.
  std::string table(const std::vector<std::string>& class_names) const;

 private:
  int64_t num_classes_, ignore_;
  std::vector<double> intersect_, union_, pred_, label_;
};

}  // namespace vitrine::evaluation
