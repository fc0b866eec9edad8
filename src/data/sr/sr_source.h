// Super-resolution samples for the loader: LR input and HR target as [C, H, W] floats in
// [0, 1]. Training draws BasicSR's random LR patch (flips, transposes) from image
// index % images, so `repeat` (BasicSR's dataset_enlarge_ratio) makes one epoch several passes;
// evaluation yields whole images (different sizes: batch size 1).
#pragma once

#include <memory>

#include "data/sample_source.h"
#include "data/sr/sr_pair_dataset.h"

namespace vitrine::data {

class SrSource : public SampleSource {
 public:
  // lr_patch 0: whole images.
  SrSource(std::shared_ptr<const SrPairDataset> pairs, int lr_patch, int repeat);
  int64_t size() const override { return pairs_->size() * repeat_; }
  std::string source(int64_t index) const override;
  Sample load(int64_t index, Rng& rng) const override;
  std::string describe() const override;
  const SrPairDataset& pairs() const { return *pairs_; }

 private:
  std::shared_ptr<const SrPairDataset> pairs_;
  int lr_patch_, repeat_;
};

// An 8-bit HWC image as a [C, H, W] float tensor in [0, 1].
at::Tensor image_to_unit_tensor(const cv::Mat& image);

}  // namespace vitrine::data
