#include "data/transforms/pil_ops.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace vitrine::data::pil {
namespace {

using Lut = std::array<uint8_t, 256>;

uint8_t clip8(double v) {
  if (v <= 0.0) return 0;
  if (v >= 255.0) return 255;
  return static_cast<uint8_t>(v);  // truncation, as PIL's C code casts
}

cv::Mat apply_lut_per_channel(const cv::Mat& image, const std::vector<Lut>& luts) {
  cv::Mat out(image.size(), image.type());
  const int channels = image.channels();
  for (int y = 0; y < image.rows; ++y) {
    const uint8_t* in = image.ptr<uint8_t>(y);
    uint8_t* o = out.ptr<uint8_t>(y);
    for (int x = 0; x < image.cols * channels; ++x) o[x] = luts[x % channels][in[x]];
  }
  return out;
}

cv::Mat apply_lut(const cv::Mat& image, const Lut& lut) {
  return apply_lut_per_channel(image, std::vector<Lut>(image.channels(), lut));
}

std::vector<std::array<int64_t, 256>> histograms(const cv::Mat& image) {
  const int channels = image.channels();
  std::vector<std::array<int64_t, 256>> h(channels);
  for (auto& hist : h) hist.fill(0);
  for (int y = 0; y < image.rows; ++y) {
    const uint8_t* in = image.ptr<uint8_t>(y);
    for (int x = 0; x < image.cols * channels; ++x) ++h[x % channels][in[x]];
  }
  return h;
}

// Image.blend(degenerate, image, factor): degenerate + factor * (image - degenerate), cast
// to uint8 (clipped only when extrapolating, as PIL does; both truncate).
cv::Mat blend(const cv::Mat& degenerate, const cv::Mat& image, double factor) {
  cv::Mat out(image.size(), image.type());
  const int n = image.cols * image.channels();
  const float alpha = static_cast<float>(factor);
  for (int y = 0; y < image.rows; ++y) {
    const uint8_t* a = degenerate.ptr<uint8_t>(y);
    const uint8_t* b = image.ptr<uint8_t>(y);
    uint8_t* o = out.ptr<uint8_t>(y);
    for (int x = 0; x < n; ++x) {
      const float v = static_cast<float>(a[x]) + alpha * static_cast<float>(int{b[x]} - int{a[x]});
      o[x] = clip8(v);
    }
  }
  return out;
}

cv::Mat grey_as(const cv::Mat& grey, int channels) {
  if (channels == 1) return grey;
  cv::Mat out;
  cv::merge(std::vector<cv::Mat>(channels, grey), out);
  return out;
}

}  // namespace

cv::Mat to_grey(const cv::Mat& image) {
  if (image.channels() == 1) return image;
  cv::Mat out(image.size(), CV_8UC1);
  for (int y = 0; y < image.rows; ++y) {
    const uint8_t* in = image.ptr<uint8_t>(y);
    uint8_t* o = out.ptr<uint8_t>(y);
    for (int x = 0; x < image.cols; ++x)
      o[x] = static_cast<uint8_t>(
          (in[3 * x] * 19595 + in[3 * x + 1] * 38470 + in[3 * x + 2] * 7471 + 0x8000) >> 16);
  }
  return out;
}

cv::Mat auto_contrast(const cv::Mat& image) {
  std::vector<Lut> luts;
  for (const auto& h : histograms(image)) {
    int lo = 0, hi = 255;
    while (lo < 256 && h[lo] == 0) ++lo;
    while (hi >= 0 && h[hi] == 0) --hi;
    Lut lut;
    if (hi <= lo) {
      for (int i = 0; i < 256; ++i) lut[i] = static_cast<uint8_t>(i);
    } else {
      const double scale = 255.0 / (hi - lo);
      const double offset = -lo * scale;
      for (int i = 0; i < 256; ++i) {
        const int v = static_cast<int>(i * scale + offset);
        lut[i] = static_cast<uint8_t>(std::clamp(v, 0, 255));
      }
    }
    luts.push_back(lut);
  }
  return apply_lut_per_channel(image, luts);
}

cv::Mat equalize(const cv::Mat& image) {
  std::vector<Lut> luts;
  for (const auto& h : histograms(image)) {
    Lut lut;
    for (int i = 0; i < 256; ++i) lut[i] = static_cast<uint8_t>(i);
    int64_t total = 0, last_nonzero = 0, nonzero_bins = 0;
    for (int i = 0; i < 256; ++i)
      if (h[i]) {
        total += h[i];
        last_nonzero = h[i];
        ++nonzero_bins;
      }
    if (nonzero_bins > 1) {
      const int64_t step = (total - last_nonzero) / 255;
      if (step > 0) {
        int64_t n = step / 2;
        for (int i = 0; i < 256; ++i) {
          lut[i] = static_cast<uint8_t>(std::min<int64_t>(n / step, 255));
          n += h[i];
        }
      }
    }
    luts.push_back(lut);
  }
  return apply_lut_per_channel(image, luts);
}

cv::Mat invert(const cv::Mat& image) {
  Lut lut;
  for (int i = 0; i < 256; ++i) lut[i] = static_cast<uint8_t>(255 - i);
  return apply_lut(image, lut);
}

cv::Mat posterize(const cv::Mat& image, int bits) {
  bits = std::clamp(bits, 0, 8);
  const int mask = ~((1 << (8 - bits)) - 1) & 0xff;
  Lut lut;
  for (int i = 0; i < 256; ++i) lut[i] = static_cast<uint8_t>(i & mask);
  return apply_lut(image, lut);
}

cv::Mat solarize(const cv::Mat& image, int threshold) {
  Lut lut;
  for (int i = 0; i < 256; ++i) lut[i] = static_cast<uint8_t>(i < threshold ? i : 255 - i);
  return apply_lut(image, lut);
}

cv::Mat solarize_add(const cv::Mat& image, int add, int threshold) {
  Lut lut;
  for (int i = 0; i < 256; ++i)
    lut[i] = static_cast<uint8_t>(i < threshold ? std::min(255, i + add) : i);
  return apply_lut(image, lut);
}

cv::Mat color(const cv::Mat& image, double factor) {
  if (image.channels() == 1) return blend(image, image, factor);
  return blend(grey_as(to_grey(image), image.channels()), image, factor);
}

cv::Mat contrast(const cv::Mat& image, double factor) {
  const cv::Mat grey = to_grey(image);
  const double mean = cv::mean(grey)[0];
  const int level = static_cast<int>(mean + 0.5);
  cv::Mat degenerate(image.size(), image.type(), cv::Scalar::all(level));
  return blend(degenerate, image, factor);
}

cv::Mat brightness(const cv::Mat& image, double factor) {
  return blend(cv::Mat::zeros(image.size(), image.type()), image, factor);
}

cv::Mat sharpness(const cv::Mat& image, double factor) {
  // ImageFilter.SMOOTH: 3x3 kernel [[1,1,1],[1,5,1],[1,1,1]] / 13, rounded to nearest; PIL
  // leaves the one-pixel border unfiltered.
  cv::Mat smooth = image.clone();
  const int c = image.channels();
  for (int y = 1; y + 1 < image.rows; ++y) {
    const uint8_t* up = image.ptr<uint8_t>(y - 1);
    const uint8_t* mid = image.ptr<uint8_t>(y);
    const uint8_t* down = image.ptr<uint8_t>(y + 1);
    uint8_t* o = smooth.ptr<uint8_t>(y);
    for (int x = 1; x + 1 < image.cols; ++x)
      for (int k = 0; k < c; ++k) {
        const int i = x * c + k;
        const float sum = static_cast<float>(up[i - c] + up[i] + up[i + c] + mid[i - c] +
                                             5 * mid[i] + mid[i + c] + down[i - c] + down[i] +
                                             down[i + c]);
        o[i] = clip8(sum / 13.0f + 0.5f);
      }
  }
  return blend(smooth, image, factor);
}

cv::Mat adjust_hue(const cv::Mat& image, double hue_factor) {
  if (image.channels() == 1) return image.clone();
  const uint8_t shift = static_cast<uint8_t>(static_cast<int>(std::lround(hue_factor * 255.0)) &
                                             0xff);
  cv::Mat out(image.size(), image.type());
  for (int y = 0; y < image.rows; ++y) {
    const uint8_t* in = image.ptr<uint8_t>(y);
    uint8_t* o = out.ptr<uint8_t>(y);
    for (int x = 0; x < image.cols; ++x) {
      const uint8_t r = in[3 * x], g = in[3 * x + 1], b = in[3 * x + 2];
      // PIL's rgb2hsv (8-bit hue and saturation, truncated).
      const uint8_t maxc = std::max({r, g, b}), minc = std::min({r, g, b});
      uint8_t h8 = 0, s8 = 0;
      const uint8_t v8 = maxc;
      if (maxc != minc) {
        const float cr = static_cast<float>(maxc - minc);
        const float s = cr / static_cast<float>(maxc);
        const float rc = (maxc - r) / cr, gc = (maxc - g) / cr, bc = (maxc - b) / cr;
        float h;
        if (r == maxc)
          h = bc - gc;
        else if (g == maxc)
          h = 2.0f + rc - bc;
        else
          h = 4.0f + gc - rc;
        h = std::fmod(h / 6.0f + 1.0f, 1.0f);
        h8 = clip8(static_cast<int>(h * 255.0f));
        s8 = clip8(static_cast<int>(s * 255.0f));
      }
      h8 = static_cast<uint8_t>(h8 + shift);
      // PIL's hsv2rgb.
      uint8_t rr, gg, bb;
      if (s8 == 0) {
        rr = gg = bb = v8;
      } else {
        const int i = static_cast<int>(std::floor(h8 * 6.0f / 255.0f));
        const float f = h8 * 6.0f / 255.0f - static_cast<float>(i);
        const float fs = s8 / 255.0f;
        const uint8_t p = clip8(std::round(v8 * (1.0f - fs)));
        const uint8_t q = clip8(std::round(v8 * (1.0f - fs * f)));
        const uint8_t t = clip8(std::round(v8 * (1.0f - fs * (1.0f - f))));
        switch (i % 6) {
          case 0: rr = v8, gg = t, bb = p; break;
          case 1: rr = q, gg = v8, bb = p; break;
          case 2: rr = p, gg = v8, bb = t; break;
          case 3: rr = p, gg = q, bb = v8; break;
          case 4: rr = t, gg = p, bb = v8; break;
          default: rr = v8, gg = p, bb = q; break;
        }
      }
      o[3 * x] = rr, o[3 * x + 1] = gg, o[3 * x + 2] = bb;
    }
  }
  return out;
}

cv::Mat affine(const cv::Mat& image, const std::array<double, 6>& k, int interpolation,
               const cv::Scalar& fill) {
  // PIL samples input (a(x+.5) + b(y+.5) + c) - .5 in pixel-index coordinates; OpenCV's
  // inverse map uses pixel indices directly, so shift the translation terms.
  cv::Mat m = (cv::Mat_<double>(2, 3) << k[0], k[1], k[2] + 0.5 * (k[0] + k[1]) - 0.5, k[3],
               k[4], k[5] + 0.5 * (k[3] + k[4]) - 0.5);
  cv::Mat out;
  cv::warpAffine(image, out, m, image.size(), interpolation | cv::WARP_INVERSE_MAP,
                 cv::BORDER_CONSTANT, fill);
  return out;
}

cv::Mat rotate(const cv::Mat& image, double degrees, int interpolation, const cv::Scalar& fill) {
  // Image.rotate's matrix: the inverse rotation about (w/2, h/2), coefficients rounded to 15
  // decimals as PIL does (so 90-degree multiples are exact).
  const double angle = -degrees * M_PI / 180.0;
  auto round15 = [](double v) { return std::round(v * 1e15) / 1e15; };
  std::array<double, 6> m = {round15(std::cos(angle)), round15(std::sin(angle)), 0.0,
                             round15(-std::sin(angle)), round15(std::cos(angle)), 0.0};
  const double cx = image.cols / 2.0, cy = image.rows / 2.0;
  m[2] = m[0] * -cx + m[1] * -cy + cx;
  m[5] = m[3] * -cx + m[4] * -cy + cy;
  return affine(image, m, interpolation, fill);
}

}  // namespace vitrine::data::pil
