#include "data/transforms/pil_ops.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
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
        const float sum =
            static_cast<float>(up[i - c] + up[i] + up[i + c] + mid[i - c] + 5 * mid[i] +
                               mid[i + c] + down[i - c] + down[i] + down[i + c]);
        o[i] = clip8(sum / 13.0f + 0.5f);
      }
  }
  return blend(smooth, image, factor);
}

cv::Mat adjust_hue(const cv::Mat& image, double hue_factor) {
  if (image.channels() == 1) return image.clone();
  const uint8_t shift = static_cast<uint8_t>(static_cast<int>(hue_factor * 255.0) & 0xff);
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
      // The C types of PIL's Convert.c on purpose: float variables, double literals.
      if (maxc != minc) {
        const float cr = static_cast<float>(maxc - minc);
        const float s = cr / static_cast<float>(maxc);
        const float rc = (maxc - r) / cr, gc = (maxc - g) / cr, bc = (maxc - b) / cr;
        float h;
        if (r == maxc)
          h = bc - gc;
        else if (g == maxc)
          h = static_cast<float>(2.0 + rc - bc);
        else
          h = static_cast<float>(4.0 + gc - rc);
        h = static_cast<float>(std::fmod(h / 6.0 + 1.0, 1.0));
        h8 = clip8(static_cast<int>(h * 255.0));
        s8 = clip8(static_cast<int>(s * 255.0));
      }
      h8 = static_cast<uint8_t>(h8 + shift);
      // PIL's hsv2rgb.
      uint8_t rr, gg, bb;
      if (s8 == 0) {
        rr = gg = bb = v8;
      } else {
        const int i = static_cast<int>(std::floor(static_cast<float>(h8) * 6.0 / 255.0));
        const float f =
            static_cast<float>(static_cast<float>(h8) * 6.0 / 255.0 - static_cast<float>(i));
        const float fs = static_cast<float>(static_cast<float>(s8) / 255.0);
        const uint8_t p = clip8(std::round(static_cast<float>(v8) * (1.0 - fs)));
        const uint8_t q = clip8(std::round(static_cast<float>(v8) * (1.0 - fs * f)));
        const uint8_t t = clip8(std::round(static_cast<float>(v8) * (1.0 - fs * (1.0 - f))));
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

namespace {

// PIL's ImagingTransformAffine for NEAREST: the pure scale/translate path pretabulates
// positions in double precision; every other matrix runs in 16.16 fixed point.
cv::Mat affine_nearest(const cv::Mat& in, const std::array<double, 6>& a, const cv::Scalar& fill) {
  const int w = in.cols, h = in.rows, c = in.channels();
  cv::Mat out(in.size(), in.type());
  auto put = [&](int x, int y, int xin, int yin) {
    uint8_t* o = out.ptr<uint8_t>(y) + x * c;
    if (xin >= 0 && xin < w && yin >= 0 && yin < h) {
      const uint8_t* src = in.ptr<uint8_t>(yin) + xin * c;
      for (int k = 0; k < c; ++k) o[k] = src[k];
    } else {
      for (int k = 0; k < c; ++k) o[k] = static_cast<uint8_t>(fill[k]);
    }
  };
  auto coord = [](double v) { return v < 0.0 ? -1 : static_cast<int>(v); };
  if (a[1] == 0 && a[3] == 0) {
    double yo = a[5] + a[4] * 0.5;
    for (int y = 0; y < h; ++y, yo += a[4]) {
      double xo = a[2] + a[0] * 0.5;
      for (int x = 0; x < w; ++x, xo += a[0]) put(x, y, coord(xo), coord(yo));
    }
    return out;
  }
  auto fix = [](double v) { return static_cast<int64_t>(std::floor(v * 65536.0 + 0.5)); };
  const int64_t a0 = fix(a[0]), a1 = fix(a[1]), a3 = fix(a[3]), a4 = fix(a[4]);
  int64_t a2 = fix(a[2] + a[0] * 0.5 + a[1] * 0.5), a5 = fix(a[5] + a[3] * 0.5 + a[4] * 0.5);
  for (int y = 0; y < h; ++y, a2 += a1, a5 += a4) {
    int64_t xx = a2, yy = a5;
    for (int x = 0; x < w; ++x, xx += a0, yy += a3)
      put(x, y, static_cast<int>(xx >> 16), static_cast<int>(yy >> 16));
  }
  return out;
}

// PIL's generic transform with its bilinear / bicubic filters: a sample whose centre falls
// outside the input gets the fill colour; neighbours past the edge are clamped.
cv::Mat affine_filtered(const cv::Mat& in, const std::array<double, 6>& a, bool bicubic,
                        const cv::Scalar& fill) {
  const int w = in.cols, h = in.rows, c = in.channels();
  cv::Mat out(in.size(), in.type());
  auto xclip = [&](int x) { return std::clamp(x, 0, w - 1); };
  auto yclip = [&](int y) { return std::clamp(y, 0, h - 1); };
  auto pixel = [&](int x, int y, int k) {
    return static_cast<double>(in.ptr<uint8_t>(y)[x * c + k]);
  };
  auto cubic = [](double v1, double v2, double v3, double v4, double d) {
    const double p1 = v2, p2 = -v1 + v3, p3 = 2 * (v1 - v2) + v3 - v4, p4 = -v1 + v2 - v3 + v4;
    return p1 + d * (p2 + d * (p3 + d * p4));
  };
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double xin = a[0] * (x + 0.5) + a[1] * (y + 0.5) + a[2];
      double yin = a[3] * (x + 0.5) + a[4] * (y + 0.5) + a[5];
      uint8_t* o = out.ptr<uint8_t>(y) + x * c;
      if (xin < 0.0 || xin >= w || yin < 0.0 || yin >= h) {
        for (int k = 0; k < c; ++k) o[k] = static_cast<uint8_t>(fill[k]);
        continue;
      }
      xin -= 0.5;
      yin -= 0.5;
      const int xi = static_cast<int>(std::floor(xin)), yi = static_cast<int>(std::floor(yin));
      const double dx = xin - xi, dy = yin - yi;
      for (int k = 0; k < c; ++k) {
        double v;
        if (!bicubic) {
          const int x0 = xclip(xi), x1 = xclip(xi + 1);
          v = pixel(x0, yclip(yi), k) + (pixel(x1, yclip(yi), k) - pixel(x0, yclip(yi), k)) * dx;
          if (yi + 1 >= 0 && yi + 1 < h) {
            const double v2 =
                pixel(x0, yi + 1, k) + (pixel(x1, yi + 1, k) - pixel(x0, yi + 1, k)) * dx;
            v = v + (v2 - v) * dy;
          }
        } else {
          const int xs[4] = {xclip(xi - 1), xclip(xi), xclip(xi + 1), xclip(xi + 2)};
          auto row = [&](int yy) {
            return cubic(pixel(xs[0], yy, k), pixel(xs[1], yy, k), pixel(xs[2], yy, k),
                         pixel(xs[3], yy, k), dx);
          };
          const double v1 = row(yclip(yi - 1));
          const double v2 = (yi >= 0 && yi < h) ? row(yi) : v1;
          const double v3 = (yi + 1 >= 0 && yi + 1 < h) ? row(yi + 1) : v2;
          const double v4 = (yi + 2 >= 0 && yi + 2 < h) ? row(yi + 2) : v3;
          v = cubic(v1, v2, v3, v4, dy);
        }
        o[k] = clip8(v);
      }
    }
  return out;
}

}  // namespace

cv::Mat affine(const cv::Mat& image, const std::array<double, 6>& k, int interpolation,
               const cv::Scalar& fill) {
  if (interpolation == cv::INTER_NEAREST) return affine_nearest(image, k, fill);
  return affine_filtered(image, k, interpolation == cv::INTER_CUBIC, fill);
}

cv::Mat rotate(const cv::Mat& image, double degrees, int interpolation, const cv::Scalar& fill) {
  // Image.rotate's matrix: the inverse rotation about (w/2, h/2), coefficients rounded to 15
  // decimals as PIL does (so 90-degree multiples are exact).
  // PIL transposes instead of resampling for these angles.
  const double turn = std::fmod(std::fmod(degrees, 360.0) + 360.0, 360.0);
  if (turn == 0.0) return image.clone();
  if (turn == 180.0 || (image.rows == image.cols && (turn == 90.0 || turn == 270.0))) {
    cv::Mat out;
    cv::rotate(image, out,
               turn == 90.0 ? cv::ROTATE_90_COUNTERCLOCKWISE
                            : (turn == 180.0 ? cv::ROTATE_180 : cv::ROTATE_90_CLOCKWISE));
    return out;
  }
  const double angle = -degrees * M_PI / 180.0;
  auto round15 = [](double v) { return std::round(v * 1e15) / 1e15; };
  std::array<double, 6> m = {round15(std::cos(angle)),  round15(std::sin(angle)), 0.0,
                             round15(-std::sin(angle)), round15(std::cos(angle)), 0.0};
  const double cx = image.cols / 2.0, cy = image.rows / 2.0;
  m[2] = m[0] * -cx + m[1] * -cy + cx;
  m[5] = m[3] * -cx + m[4] * -cy + cy;
  return affine(image, m, interpolation, fill);
}

}  // namespace vitrine::data::pil
