#include "evaluation/seg_metrics.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <cstdio>
#include <limits>

namespace vitrine::evaluation {
namespace {

double nan_mean(const std::vector<double>& v) {
  double sum = 0;
  int64_t n = 0;
  for (double x : v)
    if (!std::isnan(x)) {
      sum += x;
      ++n;
    }
  return n ? sum / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
}

std::vector<double> class_counts(const at::Tensor& values, int64_t bins) {
  const at::Tensor counts = at::bincount(values, {}, bins).to(at::kDouble).contiguous();
  const double* c = counts.data_ptr<double>();
  return std::vector<double>(c, c + bins);
}

}  // namespace

SegmentationMeter::SegmentationMeter(int64_t num_classes, int64_t ignore_index)
    : num_classes_(num_classes),
      ignore_(ignore_index),
      intersect_(static_cast<size_t>(num_classes)),
      union_(static_cast<size_t>(num_classes)),
      pred_(static_cast<size_t>(num_classes)),
      label_(static_cast<size_t>(num_classes)) {
  TORCH_CHECK(num_classes > 0, "segmentation metrics need at least one class");
}

void SegmentationMeter::add(const at::Tensor& prediction, const at::Tensor& label) {
  TORCH_CHECK(prediction.sizes() == label.sizes(), "segmentation metrics: prediction ",
              prediction.sizes(), " and label ", label.sizes(), " differ in shape");
  const at::Tensor p = prediction.to(at::kCPU, at::kLong).reshape(-1);
  const at::Tensor l = label.to(at::kCPU, at::kLong).reshape(-1);
  const at::Tensor keep = l != ignore_;
  const at::Tensor pk = p.masked_select(keep), lk = l.masked_select(keep);
  TORCH_CHECK(
      lk.numel() == 0 || (lk.min().item<int64_t>() >= 0 && lk.max().item<int64_t>() < num_classes_),
      "segmentation metrics: labels outside 0..", num_classes_ - 1, " (and ", ignore_, ")");
  TORCH_CHECK(
      pk.numel() == 0 || (pk.min().item<int64_t>() >= 0 && pk.max().item<int64_t>() < num_classes_),
      "segmentation metrics: predictions outside 0..", num_classes_ - 1);
  const auto inter = class_counts(pk.masked_select(pk == lk), num_classes_);
  const auto pred = class_counts(pk, num_classes_), lab = class_counts(lk, num_classes_);
  for (size_t c = 0; c < intersect_.size(); ++c) {
    intersect_[c] += inter[c];
    pred_[c] += pred[c];
    label_[c] += lab[c];
    union_[c] += pred[c] + lab[c] - inter[c];
  }
}

void SegmentationMeter::combine(
    const std::function<std::vector<double>(const std::vector<double>&)>& sum) {
  std::vector<double> packed;
  for (const auto* v : {&intersect_, &union_, &pred_, &label_})
    packed.insert(packed.end(), v->begin(), v->end());
  packed = sum(packed);
  size_t at = 0;
  for (auto* v : {&intersect_, &union_, &pred_, &label_})
    for (double& x : *v) x = packed[at++];
}

double SegmentationMeter::aacc() const {
  double i = 0, l = 0;
  for (size_t c = 0; c < intersect_.size(); ++c) {
    i += intersect_[c];
    l += label_[c];
  }
  return l > 0 ? i / l : std::numeric_limits<double>::quiet_NaN();
}

std::vector<double> SegmentationMeter::iou() const {
  std::vector<double> out;
  for (size_t c = 0; c < intersect_.size(); ++c)
    out.push_back(union_[c] > 0 ? intersect_[c] / union_[c]
                                : std::numeric_limits<double>::quiet_NaN());
  return out;
}

std::vector<double> SegmentationMeter::acc() const {
  std::vector<double> out;
  for (size_t c = 0; c < intersect_.size(); ++c)
    out.push_back(label_[c] > 0 ? intersect_[c] / label_[c]
                                : std::numeric_limits<double>::quiet_NaN());
  return out;
}

double SegmentationMeter::miou() const {
  return nan_mean(iou());
}
double SegmentationMeter::macc() const {
  return nan_mean(acc());
}

std::string SegmentationMeter::table(const std::vector<std::string>& names) const {
  const auto ious = iou(), accs = acc();
  std::string out =
      "+-----------------+-------+-------+\n| Class           |  IoU  |  Acc  |\n"
      "+-----------------+-------+-------+\n";
  char line[128];
  for (size_t c = 0; c < ious.size(); ++c) {
    const std::string name = c < names.size() && !names[c].empty() ? names[c] : std::to_string(c);
    std::snprintf(line, sizeof(line), "| %-15.15s | %5.2f | %5.2f |\n", name.c_str(), 100 * ious[c],
                  100 * accs[c]);
    out += line;
  }
  std::snprintf(line, sizeof(line),
                "+-----------------+-------+-------+\nSummary: aAcc %.2f  mIoU %.2f  mAcc %.2f\n",
                100 * aacc(), 100 * miou(), 100 * macc());
  return out + line;
}

}  // namespace vitrine::evaluation
