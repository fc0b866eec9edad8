#include "data/sr/sr_source.h"

#include <ATen/ATen.h>

namespace vitrine::data {

at::Tensor image_to_unit_tensor(const cv::Mat& image) {
  const cv::Mat contiguous = image.isContinuous() ? image : image.clone();
  const at::Tensor hwc =
      at::from_blob(const_cast<uint8_t*>(contiguous.ptr<uint8_t>()),
                    {contiguous.rows, contiguous.cols, contiguous.channels()}, at::kByte);
  return hwc.permute({2, 0, 1}).to(at::kFloat).div_(255.0f).contiguous();
}

SrSource::SrSource(std::shared_ptr<const SrPairDataset> pairs, int lr_patch, int repeat)
    : pairs_(std::move(pairs)), lr_patch_(lr_patch), repeat_(repeat) {
  if (repeat_ < 1) throw DataError("SR data: repeat must be at least 1");
  if (lr_patch_ < 0) throw DataError("SR data: lr_patch must be positive (0: whole images)");
}

std::string SrSource::source(int64_t index) const {
  return pairs_->hr_path(index % pairs_->size());
}

Sample SrSource::load(int64_t index, Rng& rng) const {
  SrPair pair = pairs_->get(index % pairs_->size());
  if (lr_patch_ > 0) pair = random_sr_patch(pair, lr_patch_, pairs_->scale(), rng);
  Sample sample;
  sample.image = image_to_unit_tensor(pair.lr);
  sample.target = image_to_unit_tensor(pair.hr);
  return sample;
}

std::string SrSource::describe() const {
  const std::string x = "x" + std::to_string(pairs_->scale());
  if (lr_patch_ == 0) return "SR pairs " + x + ": whole images";
  return "SR pairs " + x + ": random " + std::to_string(lr_patch_) + "x" +
         std::to_string(lr_patch_) + " LR patches, h/v flips and transposes (p 0.5 each), " +
         std::to_string(repeat_) + " passes per epoch";
}

}  // namespace vitrine::data
