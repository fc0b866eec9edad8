#include "data/transforms/rand_augment.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/text.h"
#include "data/transforms/pil_ops.h"

namespace vitrine::data {
namespace {

constexpr double kLevelDenominator = 10.0;  // timm's _LEVEL_DENOM

const std::vector<std::string>& standard_ops() {
  static const std::vector<std::string> ops = {
      "AutoContrast", "Equalize",    "Invert", "Rotate",        "Posterize",
      "Solarize",     "SolarizeAdd", "Color",  "Contrast",      "Brightness",
      "Sharpness",    "ShearX",      "ShearY", "TranslateXRel", "TranslateYRel"};
  return ops;
}

const std::vector<std::string>& increasing_ops() {
  static const std::vector<std::string> ops = {"AutoContrast",
                                               "Equalize",
                                               "Invert",
                                               "Rotate",
                                               "PosterizeIncreasing",
                                               "SolarizeIncreasing",
                                               "SolarizeAdd",
                                               "ColorIncreasing",
                                               "ContrastIncreasing",
                                               "BrightnessIncreasing",
                                               "SharpnessIncreasing",
                                               "ShearX",
                                               "ShearY",
                                               "TranslateXRel",
                                               "TranslateYRel"};
  return ops;
}

// timm's _randomly_negate: negative when random() > 0.5.
double randomly_negate(double v, Rng& rng) {
  return rng.uniform() > 0.5 ? -v : v;
}

}  // namespace

RandAugmentSpec parse_rand_augment(const std::string& spec, const std::string& key) {
  RandAugmentSpec out;
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t dash = spec.find('-', start);
    parts.push_back(spec.substr(start, dash - start));
    if (dash == std::string::npos) break;
    start = dash + 1;
  }
  if (parts.empty() || parts[0] != "rand")
    throw ConfigError(key + ": RandAugment spec must start with 'rand-', got '" + spec + "'");
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string& part = parts[i];
    size_t split = 0;
    while (split < part.size() && std::isalpha(static_cast<unsigned char>(part[split]))) ++split;
    const std::string name = part.substr(0, split), value = part.substr(split);
    double number = 0;
    try {
      size_t used = 0;
      number = std::stod(value, &used);
      if (used != value.size()) throw std::invalid_argument(value);
    } catch (const std::exception&) {
      throw ConfigError(key + ": '" + part + "' in RandAugment spec '" + spec +
                        "' needs a number after '" + name + "'");
    }
    if (name == "m") {
      out.magnitude = number;
    } else if (name == "n") {
      out.num_layers = static_cast<int>(number);
    } else if (name == "mstd") {
      out.magnitude_std = number > 100 ? std::numeric_limits<double>::infinity() : number;
    } else if (name == "mmax") {
      out.magnitude_max = number;
    } else if (name == "inc") {
      out.increasing = number != 0;
    } else if (name == "p") {
      out.prob = number;
    } else {
      throw ConfigError(key + ": unknown RandAugment option '" + name + "' in '" + spec +
                        "' (known: m, n, mstd, mmax, inc, p)");
    }
  }
  if (out.num_layers < 0 || out.magnitude < 0 || out.prob < 0 || out.prob > 1)
    throw ConfigError(key + ": RandAugment spec '" + spec + "' has an out-of-range value");
  out.ops = out.increasing ? increasing_ops() : standard_ops();
  return out;
}

cv::Mat rand_augment_op(const std::string& name, const cv::Mat& image, double magnitude, Rng& rng,
                        Interpolation interpolation, const cv::Scalar& fill) {
  const double level = magnitude / kLevelDenominator;
  auto resample = [&] { return cv_interpolation(interpolation, rng); };
  if (name == "AutoContrast") return pil::auto_contrast(image);
  if (name == "Equalize") return pil::equalize(image);
  if (name == "Invert") return pil::invert(image);
  if (name == "Rotate") {
    const double degrees = randomly_negate(level * 30.0, rng);
    return pil::rotate(image, degrees, resample(), fill);
  }
  if (name == "Posterize") return pil::posterize(image, static_cast<int>(level * 4));
  if (name == "PosterizeIncreasing") return pil::posterize(image, 4 - static_cast<int>(level * 4));
  if (name == "Solarize") return pil::solarize(image, static_cast<int>(level * 256));
  if (name == "SolarizeIncreasing")
    return pil::solarize(image, 256 - static_cast<int>(level * 256));
  if (name == "SolarizeAdd") return pil::solarize_add(image, static_cast<int>(level * 110), 128);
  // Enhance factors: (level * 1.8 + 0.1), or 1 +- level * 0.9 for the increasing variants.
  const bool enhance_increasing =
      name.size() > 10 && name.compare(name.size() - 10, 10, "Increasing") == 0;
  const std::string base = enhance_increasing ? name.substr(0, name.size() - 10) : name;
  if (base == "Color" || base == "Contrast" || base == "Brightness" || base == "Sharpness") {
    const double factor =
        enhance_increasing ? 1.0 + randomly_negate(level * 0.9, rng) : level * 1.8 + 0.1;
    if (base == "Color") return pil::color(image, factor);
    if (base == "Contrast") return pil::contrast(image, factor);
    if (base == "Brightness") return pil::brightness(image, factor);
    return pil::sharpness(image, factor);
  }
  if (name == "ShearX" || name == "ShearY") {
    const double shear = randomly_negate(level * 0.3, rng);
    const std::array<double, 6> m = name == "ShearX" ? std::array<double, 6>{1, shear, 0, 0, 1, 0}
                                                     : std::array<double, 6>{1, 0, 0, shear, 1, 0};
    return pil::affine(image, m, resample(), fill);
  }
  if (name == "TranslateXRel" || name == "TranslateYRel") {
    const double fraction = randomly_negate(level * 0.45, rng);  // timm translate_pct 0.45
    const std::array<double, 6> m =
        name == "TranslateXRel" ? std::array<double, 6>{1, 0, fraction * image.cols, 0, 1, 0}
                                : std::array<double, 6>{1, 0, 0, 0, 1, fraction * image.rows};
    return pil::affine(image, m, resample(), fill);
  }
  throw ConfigError("unknown RandAugment op '" + name + "'");
}

RandAugment::RandAugment(RandAugmentSpec spec, Interpolation interpolation, cv::Scalar fill)
    : spec_(std::move(spec)), interpolation_(interpolation), fill_(fill) {}

cv::Mat RandAugment::apply(const cv::Mat& image, Rng& rng) const {
  cv::Mat out = image;
  const int64_t count = static_cast<int64_t>(spec_.ops.size());
  for (int layer = 0; layer < spec_.num_layers; ++layer) {
    const std::string& op = spec_.ops[static_cast<size_t>(rng.randint(0, count - 1))];
    if (spec_.prob < 1.0 && rng.uniform() > spec_.prob) continue;
    double magnitude = spec_.magnitude;
    if (std::isinf(spec_.magnitude_std))
      magnitude = rng.uniform(0, magnitude);
    else if (spec_.magnitude_std > 0)
      magnitude = rng.normal(magnitude, spec_.magnitude_std);
    magnitude = std::clamp(magnitude, 0.0, spec_.magnitude_max);
    out = rand_augment_op(op, out, magnitude, rng, interpolation_, fill_);
  }
  return out;
}

std::string RandAugment::describe() const {
  return "RandAugment(n=" + std::to_string(spec_.num_layers) +
         ", m=" + std::to_string(spec_.magnitude) +
         ", mstd=" + std::to_string(spec_.magnitude_std) + ", ops=[" + join(spec_.ops, ", ") + "])";
}

}  // namespace vitrine::data
