// The dense-prediction pipelines' Normalize step (mmdetection / mmsegmentation): an 8-bit RGB
// image to a [3, H, W] float tensor of (pixel - mean) / std per channel, on the 0-255 scale.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <opencv2/core/mat.hpp>

namespace vitrine::data {

using ChannelStats = std::array<double, 3>;

at::Tensor normalised_image(const cv::Mat& rgb, const ChannelStats& mean, const ChannelStats& std);

}  // namespace vitrine::data
