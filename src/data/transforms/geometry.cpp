#include "data/transforms/geometry.h"

#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

#include "core/error.h"

namespace vitrine::data {

Interpolation parse_interpolation(const std::string& name, const std::string& key) {
  if (name == "nearest") return Interpolation::kNearest;
  if (name == "bilinear") return Interpolation::kBilinear;
  if (name == "bicubic") return Interpolation::kBicubic;
  if (name == "random") return Interpolation::kRandom;
  throw ConfigError(key + " must be nearest, bilinear, bicubic or random, got '" + name + "'");
}

std::string interpolation_name(Interpolation interpolation) {
  switch (interpolation) {
    case Interpolation::kNearest: return "nearest";
    case Interpolation::kBilinear: return "bilinear";
    case Interpolation::kBicubic: return "bicubic";
    case Interpolation::kRandom: return "random";
  }
  return "?";
}

int cv_interpolation(Interpolation interpolation, Rng& rng) {
  switch (interpolation) {
    case Interpolation::kNearest: return cv::INTER_NEAREST;
    case Interpolation::kBilinear: return cv::INTER_LINEAR;
    case Interpolation::kBicubic: return cv::INTER_CUBIC;
    case Interpolation::kRandom: return rng.bernoulli(0.5) ? cv::INTER_LINEAR : cv::INTER_CUBIC;
  }
  return cv::INTER_LINEAR;
}

namespace {

cv::Mat resize_to(const cv::Mat& image, int width, int height, int flag) {
  if (image.cols == width && image.rows == height) return image.clone();
  // Area averaging when shrinking, as PIL's filters antialias on downscale and OpenCV's
  // linear/cubic filters do not.
  if (flag != cv::INTER_NEAREST && width < image.cols && height < image.rows) flag = cv::INTER_AREA;
  cv::Mat out;
  cv::resize(image, out, cv::Size(width, height), 0, 0, flag);
  return out;
}

}  // namespace

RandomResizedCrop::RandomResizedCrop(int size, std::pair<double, double> scale,
                                     std::pair<double, double> ratio, Interpolation interpolation)
    : size_(size), scale_(scale), ratio_(ratio), interpolation_(interpolation) {
  if (size < 1) throw ConfigError("RandomResizedCrop size must be positive");
  if (!(scale.first > 0 && scale.first <= scale.second && scale.second <= 1.0))
    throw ConfigError("RandomResizedCrop scale must satisfy 0 < min <= max <= 1");
  if (!(ratio.first > 0 && ratio.first <= ratio.second))
    throw ConfigError("RandomResizedCrop ratio must satisfy 0 < min <= max");
}

cv::Rect RandomResizedCrop::sample_box(int width, int height, Rng& rng) const {
  const double area = static_cast<double>(width) * height;
  const double log_lo = std::log(ratio_.first), log_hi = std::log(ratio_.second);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * rng.uniform(scale_.first, scale_.second);
    const double aspect = std::exp(rng.uniform(log_lo, log_hi));
    const int w = static_cast<int>(std::nearbyint(std::sqrt(target_area * aspect)));
    const int h = static_cast<int>(std::nearbyint(std::sqrt(target_area / aspect)));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      const int top = static_cast<int>(rng.randint(0, height - h));
      const int left = static_cast<int>(rng.randint(0, width - w));
      return cv::Rect(left, top, w, h);
    }
  }
  // Fallback: the largest center crop with the aspect ratio clamped into range.
  const double in_ratio = static_cast<double>(width) / height;
  int w = width, h = height;
  if (in_ratio < ratio_.first) {
    h = static_cast<int>(std::nearbyint(w / ratio_.first));
  } else if (in_ratio > ratio_.second) {
    w = static_cast<int>(std::nearbyint(h * ratio_.second));
  }
  return cv::Rect((width - w) / 2, (height - h) / 2, w, h);
}

cv::Mat RandomResizedCrop::apply(const cv::Mat& image, Rng& rng) const {
  const cv::Rect box = sample_box(image.cols, image.rows, rng);
  return resize_to(image(box), size_, size_, cv_interpolation(interpolation_, rng));
}

std::string RandomResizedCrop::describe() const {
  return "RandomResizedCrop(size=" + std::to_string(size_) + ", scale=(" +
         std::to_string(scale_.first) + ", " + std::to_string(scale_.second) + "), ratio=(" +
         std::to_string(ratio_.first) + ", " + std::to_string(ratio_.second) +
         "), interpolation=" + interpolation_name(interpolation_) + ")";
}

RandomCrop::RandomCrop(int size, int padding) : size_(size), padding_(padding) {
  if (size < 1 || padding < 0) throw ConfigError("RandomCrop needs size > 0 and padding >= 0");
}

cv::Mat RandomCrop::apply(const cv::Mat& image, Rng& rng) const {
  cv::Mat padded = image;
  if (padding_ > 0)
    cv::copyMakeBorder(image, padded, padding_, padding_, padding_, padding_, cv::BORDER_CONSTANT,
                       cv::Scalar::all(0));
  if (padded.rows < size_ || padded.cols < size_)
    throw ConfigError("RandomCrop(" + std::to_string(size_) + ") is larger than the padded " +
                      std::to_string(padded.cols) + "x" + std::to_string(padded.rows) + " image");
  const int top = static_cast<int>(rng.randint(0, padded.rows - size_));
  const int left = static_cast<int>(rng.randint(0, padded.cols - size_));
  return padded(cv::Rect(left, top, size_, size_)).clone();
}

std::string RandomCrop::describe() const {
  return "RandomCrop(size=" + std::to_string(size_) + ", padding=" + std::to_string(padding_) + ")";
}

HorizontalFlip::HorizontalFlip(double probability, bool alternate)
    : probability_(probability), alternate_(alternate) {
  if (alternate && probability != 0.5)
    throw ConfigError("alternating horizontal flips need flip probability 0.5, got " +
                      std::to_string(probability));
}

cv::Mat HorizontalFlip::apply(const cv::Mat& image, Rng& rng) const {
  bool flip = false;
  if (alternate_) {
    const SampleIdentity& sample = rng.sample();
    if (sample.index < 0)
      throw std::logic_error("alternating horizontal flips need the data loader's sample index");
    // The per-image coin is drawn from its own stream (not `rng`), so that it stays the same
    // in every epoch; the epoch's parity then alternates it.
    const bool first = (mix_seed(mix_seed(sample.seed, 0x666c6970ULL),  // "flip"
                                 static_cast<uint64_t>(sample.index)) >>
                        63) != 0;
    flip = first != (sample.epoch % 2 == 1);
  } else {
    flip = rng.bernoulli(probability_);
  }
  if (!flip) return image;
  cv::Mat out;
  cv::flip(image, out, 1);
  return out;
}

std::string HorizontalFlip::describe() const {
  if (alternate_) return "AlternatingHorizontalFlip()";
  return "RandomHorizontalFlip(p=" + std::to_string(probability_) + ")";
}

ResizeShorter::ResizeShorter(int size, Interpolation interpolation)
    : size_(size), interpolation_(interpolation) {
  if (size < 1) throw ConfigError("Resize size must be positive");
}

cv::Mat ResizeShorter::apply(const cv::Mat& image, Rng& rng) const {
  const int w = image.cols, h = image.rows;
  int out_w = size_, out_h = size_;
  if (w <= h)
    out_h = static_cast<int>(static_cast<int64_t>(size_) * h / w);
  else
    out_w = static_cast<int>(static_cast<int64_t>(size_) * w / h);
  return resize_to(image, out_w, out_h, cv_interpolation(interpolation_, rng));
}

std::string ResizeShorter::describe() const {
  return "Resize(" + std::to_string(size_) +
         ", interpolation=" + interpolation_name(interpolation_) + ")";
}

CenterCrop::CenterCrop(int size) : size_(size) {
  if (size < 1) throw ConfigError("CenterCrop size must be positive");
}

cv::Mat CenterCrop::apply(const cv::Mat& image, Rng&) const {
  cv::Mat source = image;
  if (image.rows < size_ || image.cols < size_) {
    const int pad_h = std::max(0, size_ - image.rows), pad_w = std::max(0, size_ - image.cols);
    cv::copyMakeBorder(image, source, pad_h / 2, (pad_h + 1) / 2, pad_w / 2, (pad_w + 1) / 2,
                       cv::BORDER_CONSTANT, cv::Scalar::all(0));
  }
  // torchvision rounds the offsets: int(round((h - size) / 2.0)).
  const int top = static_cast<int>(std::nearbyint((source.rows - size_) / 2.0));
  const int left = static_cast<int>(std::nearbyint((source.cols - size_) / 2.0));
  return source(cv::Rect(left, top, size_, size_)).clone();
}

std::string CenterCrop::describe() const {
  return "CenterCrop(" + std::to_string(size_) + ")";
}

}  // namespace vitrine::data
