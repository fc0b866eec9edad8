#include "data/dense/normalised_image.h"

#include <ATen/ATen.h>

#include <vector>

namespace vitrine::data {

at::Tensor normalised_image(const cv::Mat& rgb, const ChannelStats& mean, const ChannelStats& std) {
  const cv::Mat image = rgb.isContinuous() ? rgb : rgb.clone();
  const at::Tensor chw = at::from_blob(const_cast<uint8_t*>(image.ptr<uint8_t>()),
                                       {image.rows, image.cols, 3}, at::kByte)
                             .permute({2, 0, 1})
                             .to(at::kFloat);
  auto column = [](const ChannelStats& v) {
    return at::tensor(std::vector<double>(v.begin(), v.end())).to(at::kFloat).view({3, 1, 1});
  };
  return ((chw - column(mean)) / column(std)).contiguous();
}

}  // namespace vitrine::data
