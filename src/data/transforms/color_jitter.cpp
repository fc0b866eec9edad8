#include "data/transforms/color_jitter.h"

#include <algorithm>
#include <array>
#include <numeric>

#include "core/error.h"
#include "data/transforms/pil_ops.h"

namespace vitrine::data {

ColorJitter::ColorJitter(double brightness, double contrast, double saturation, double hue)
    : brightness_(brightness), contrast_(contrast), saturation_(saturation), hue_(hue) {
  if (brightness < 0 || contrast < 0 || saturation < 0)
    throw ConfigError("ColorJitter brightness, contrast and saturation must be >= 0");
  if (hue < 0 || hue > 0.5) throw ConfigError("ColorJitter hue must be in [0, 0.5]");
}

cv::Mat ColorJitter::apply(const cv::Mat& image, Rng& rng) const {
  std::array<int, 4> order;
  std::iota(order.begin(), order.end(), 0);
  for (int i = 3; i > 0; --i) std::swap(order[i], order[rng.randint(0, i)]);
  auto factor = [&](double x) { return rng.uniform(std::max(0.0, 1.0 - x), 1.0 + x); };
  // Factors are drawn up front, in a fixed order, as torchvision's get_params does.
  const double b = brightness_ > 0 ? factor(brightness_) : 1.0;
  const double c = contrast_ > 0 ? factor(contrast_) : 1.0;
  const double s = saturation_ > 0 ? factor(saturation_) : 1.0;
  const double h = hue_ > 0 ? rng.uniform(-hue_, hue_) : 0.0;
  cv::Mat out = image;
  for (int op : order) {
    if (op == 0 && brightness_ > 0) out = pil::brightness(out, b);
    if (op == 1 && contrast_ > 0) out = pil::contrast(out, c);
    if (op == 2 && saturation_ > 0) out = pil::color(out, s);
    if (op == 3 && hue_ > 0) out = pil::adjust_hue(out, h);
  }
  return out;
}

std::string ColorJitter::describe() const {
  return "ColorJitter(brightness=" + std::to_string(brightness_) +
         ", contrast=" + std::to_string(contrast_) + ", saturation=" + std::to_string(saturation_) +
         ", hue=" + std::to_string(hue_) + ")";
}

}  // namespace vitrine::data
