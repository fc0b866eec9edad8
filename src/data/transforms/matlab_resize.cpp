#include "data/transforms/matlab_resize.h"

#include <cmath>
#include <opencv2/core.hpp>
#include <stdexcept>
#include <string>

namespace vitrine::data {
namespace {

double cubic(double x) {
  const double a = std::abs(x), a2 = a * a, a3 = a2 * a;
  if (a <= 1) return 1.5 * a3 - 2.5 * a2 + 1;
  if (a <= 2) return -0.5 * a3 + 2.5 * a2 - 4 * a + 2;
  return 0;
}

// MATLAB's mirror of a 1-based index into [1, n] ([1:n, n:-1:1], repeated), 0-based out.
int mirror(long index, int n) {
  const long period = 2L * n;
  long r = (index - 1) % period;
  if (r < 0) r += period;
  return static_cast<int>(r < n ? r : period - 1 - r);
}

// One axis of a float64 image: rows (axis 0) or columns (axis 1).
cv::Mat resize_axis(const cv::Mat& in, int axis, const ResizeTaps& taps) {
  const int out_len = static_cast<int>(taps.index.size());
  const int channels = in.channels();
  cv::Mat out(axis == 0 ? out_len : in.rows, axis == 0 ? in.cols : out_len, in.type());
  for (int r = 0; r < out.rows; ++r) {
    double* dst = out.ptr<double>(r);
    for (int c = 0; c < out.cols; ++c) {
      const int i = axis == 0 ? r : c;
      for (int ch = 0; ch < channels; ++ch) {
        double sum = 0;
        for (size_t t = 0; t < taps.index[i].size(); ++t) {
          const int j = taps.index[i][t];
          const double v = axis == 0 ? in.ptr<double>(j)[c * channels + ch]
                                     : in.ptr<double>(r)[j * channels + ch];
          sum += taps.weight[i][t] * v;
        }
        dst[c * channels + ch] = sum;
      }
    }
  }
  return out;
}

}  // namespace

int matlab_resized_length(int length, double scale) {
  return static_cast<int>(std::ceil(static_cast<double>(length) * scale));
}

ResizeTaps matlab_resize_taps(int in_length, int out_length, double scale) {
  const bool antialias = scale < 1;
  const double width = antialias ? 4.0 / scale : 4.0;
  const int taps = static_cast<int>(std::ceil(width)) + 2;
  ResizeTaps r;
  r.index.resize(out_length);
  r.weight.resize(out_length);
  for (int i = 0; i < out_length; ++i) {
    const double u = (i + 1) / scale + 0.5 * (1 - 1 / scale);
    const long left = static_cast<long>(std::floor(u - width / 2));
    double total = 0;
    std::vector<double> w(taps);
    for (int t = 0; t < taps; ++t) {
      const double d = u - static_cast<double>(left + t);
      w[t] = antialias ? scale * cubic(d * scale) : cubic(d);
      total += w[t];
    }
    for (int t = 0; t < taps; ++t) {
      if (w[t] == 0) continue;  // MATLAB drops all-zero tap columns; they add nothing
      r.index[i].push_back(mirror(left + t, in_length));
      r.weight[i].push_back(w[t] / total);
    }
  }
  return r;
}

cv::Mat matlab_imresize(const cv::Mat& image, double scale) {
  if (!(scale > 0)) throw std::invalid_argument("matlab_imresize: scale must be positive");
  const int depth = image.depth();
  if (depth != CV_8U && depth != CV_32F && depth != CV_64F)
    throw std::invalid_argument("matlab_imresize: expected an 8-bit or float image");
  if (image.empty()) throw std::invalid_argument("matlab_imresize: empty image");
  cv::Mat work;
  image.convertTo(work, CV_MAKETYPE(CV_64F, image.channels()));
  const int out_rows = matlab_resized_length(image.rows, scale);
  const int out_cols = matlab_resized_length(image.cols, scale);
  work = resize_axis(work, 0, matlab_resize_taps(image.rows, out_rows, scale));
  work = resize_axis(work, 1, matlab_resize_taps(image.cols, out_cols, scale));
  cv::Mat out;
  if (depth == CV_8U) {
    // MATLAB rounds half away from zero and saturates; convertTo rounds half to even, so
    // round first.
    cv::Mat rounded = work.clone();
    for (int r = 0; r < rounded.rows; ++r) {
      double* p = rounded.ptr<double>(r);
      for (int c = 0; c < rounded.cols * rounded.channels(); ++c) p[c] = std::round(p[c]);
    }
    rounded.convertTo(out, CV_MAKETYPE(CV_8U, image.channels()));
  } else {
    work.convertTo(out, CV_MAKETYPE(depth, image.channels()));
  }
  return out;
}

}  // namespace vitrine::data
