// MATLAB's imresize(image, scale, 'bicubic') — antialiased when shrinking — which is how the
// DIV2K / Set5 / Set14 / B100 / Urban100 / Manga109 low-resolution images were made (and what
// BasicSR's matlab_functions.imresize reproduces). Per axis (rows first, then columns, as
// MATLAB orders equal scales): output pixel i (1-based) samples the input at
// u = i / s + (1 - 1 / s) / 2 with the Keys cubic (a = -0.5), widened to 4 / s taps and scaled
// by s when s < 1; weights are normalised to sum 1 and indices outside the image mirror with the
// edge repeated (MATLAB's [1:n, n:-1:1]). uint8 images are rounded to the nearest level and
// saturated, as MATLAB returns uint8; float images (CV_32F/CV_64F) stay unrounded.
#pragma once

#include <opencv2/core.hpp>
#include <vector>

namespace vitrine::data {

// The output size MATLAB gives a side of `length` at `scale`: ceil(length * scale).
int matlab_resized_length(int length, double scale);

// Resizes by `scale` (> 0) on both axes. Any channel count; CV_8U, CV_32F or CV_64F.
cv::Mat matlab_imresize(const cv::Mat& image, double scale);

// The taps one axis uses: for each output pixel, the (0-based, already mirrored) input
// indices and their weights. Exposed for tests.
struct ResizeTaps {
  std::vector<std::vector<int>> index;
  std::vector<std::vector<double>> weight;
};
ResizeTaps matlab_resize_taps(int in_length, int out_length, double scale);

}  // namespace vitrine::data
