#include "data/dense/ade20k_source.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "data/dataset.h"
#include "data/image_decode.h"
#include "data/transforms/det_transforms.h"

namespace vitrine::data {
namespace fs = std::filesystem;
namespace {

// mmseg's convert: float multiply-add, clipped to 0..255 and truncated to 8 bits.
void convert(cv::Mat& m, double alpha, double beta) {
  cv::Mat f;
  m.convertTo(f, CV_32F, alpha, beta);
  cv::min(cv::max(f, 0.0), 255.0, f);
  // Truncation (numpy astype(uint8)), where convertTo would round.
  f.forEach<float>([](float& v, const int*) { v = std::floor(v); });
  f.convertTo(m, CV_8U);
}

// mmcv's rescale_size (shared with detection's Resize): the largest keep-ratio size within
// (long, short).
cv::Size rescale_size(int w, int h, int long_edge, int short_edge) {
  const auto [nw, nh] = keep_ratio_size(w, h, long_edge, short_edge);
  return {nw, nh};
}

at::Tensor label_tensor(const cv::Mat& label) {
  const cv::Mat l = label.isContinuous() ? label : label.clone();
  return at::from_blob(const_cast<uint8_t*>(l.ptr<uint8_t>()), {1, l.rows, l.cols}, at::kByte)
      .to(at::kFloat);
}

}  // namespace

void photometric_distortion(cv::Mat& rgb, Rng& rng) {
  if (rng.randint(0, 1)) convert(rgb, 1.0, rng.uniform(-32, 32));  // brightness
  const bool contrast_first = rng.randint(0, 1) == 1;
  auto contrast = [&] {
    if (rng.randint(0, 1)) convert(rgb, rng.uniform(0.5, 1.5), 0);
  };
  if (contrast_first) contrast();
  if (rng.randint(0, 1)) {  // saturation
    cv::Mat hsv;
    cv::cvtColor(rgb, hsv, cv::COLOR_RGB2HSV);
    std::vector<cv::Mat> ch;
    cv::split(hsv, ch);
    convert(ch[1], rng.uniform(0.5, 1.5), 0);
    cv::merge(ch, hsv);
    cv::cvtColor(hsv, rgb, cv::COLOR_HSV2RGB);
  }
  if (rng.randint(0, 1)) {  // hue, OpenCV's 8-bit hue in 0..179
    cv::Mat hsv;
    cv::cvtColor(rgb, hsv, cv::COLOR_RGB2HSV);
    const int delta = static_cast<int>(rng.randint(-18, 18));
    hsv.forEach<cv::Vec3b>([delta](cv::Vec3b& p, const int*) {
      p[0] = static_cast<uint8_t>(((p[0] + delta) % 180 + 180) % 180);
    });
    cv::cvtColor(hsv, rgb, cv::COLOR_HSV2RGB);
  }
  if (!contrast_first) contrast();
}

Ade20kSource::Ade20kSource(Ade20kOptions options) : options_(std::move(options)) {
  for (const std::string& dir : {options_.image_dir, options_.annotation_dir})
    if (!fs::is_directory(dir))
      throw MissingDataError("ADE20K data: folder '" + dir + "' does not exist");
  for (const auto& entry : fs::directory_iterator(options_.image_dir)) {
    const fs::path p = entry.path();
    if (!entry.is_regular_file() || !has_image_extension(p.string())) continue;
    stems_.push_back(p.stem().string());
    if (image_ext_.empty()) image_ext_ = p.extension().string();
    if (!fs::exists(fs::path(options_.annotation_dir) / (p.stem().string() + ".png")))
      throw DataError("ADE20K data: " + p.string() + " has no label map " +
                      (fs::path(options_.annotation_dir) / (p.stem().string() + ".png")).string());
  }
  std::sort(stems_.begin(), stems_.end());
  if (stems_.empty()) throw DataError("ADE20K data: no images in '" + options_.image_dir + "'");
  if (options_.crop_h < 1 || options_.crop_w < 1 || options_.scale_long < 1 ||
      options_.scale_short < 1 ||
      !(options_.ratio_min > 0 && options_.ratio_min <= options_.ratio_max))
    throw DataError("ADE20K data: img_scale, ratio_range and crop_size must be positive");
}

std::string Ade20kSource::source(int64_t index) const {
  return (fs::path(options_.image_dir) / (stems_[static_cast<size_t>(index)] + image_ext_))
      .string();
}

std::string Ade20kSource::describe() const {
  std::string s = "ADE20K-layout " + options_.image_dir + ": " + std::to_string(size()) +
                  " images, resize " + std::to_string(options_.scale_long) + "x" +
                  std::to_string(options_.scale_short);
  if (options_.train)
    s += " x [" + std::to_string(options_.ratio_min) + ", " + std::to_string(options_.ratio_max) +
         "], crop " + std::to_string(options_.crop_h) + "x" + std::to_string(options_.crop_w) +
         ", flip, " + (options_.photometric ? "photometric distortion" : "no photometric");
  return s;
}

Sample Ade20kSource::load(int64_t index, Rng& rng) const {
  const std::string stem = stems_[static_cast<size_t>(index)];
  cv::Mat image = decode_image_file(source(index), 3);
  const std::string label_path = (fs::path(options_.annotation_dir) / (stem + ".png")).string();
  cv::Mat label = cv::imread(label_path, cv::IMREAD_UNCHANGED);
  if (label.empty()) throw DataError("cannot read the label map " + label_path);
  if (label.type() != CV_8UC1)
    throw DataError("the label map " + label_path + " is not an 8-bit single-channel PNG");
  if (label.size() != image.size())
    throw DataError("the label map " + label_path + " is " + std::to_string(label.cols) + "x" +
                    std::to_string(label.rows) + " but the image is " + std::to_string(image.cols) +
                    "x" + std::to_string(image.rows));
  if (options_.reduce_zero_label)
    label.forEach<uint8_t>([](uint8_t& v, const int*) {
      v = v == 0 ? 255 : v == 255 ? 255 : v - 1;
    });

  Sample sample;
  if (!options_.train) {
    const cv::Size size =
        rescale_size(image.cols, image.rows, options_.scale_long, options_.scale_short);
    cv::Mat resized;
    cv::resize(image, resized, size, 0, 0, cv::INTER_LINEAR);
    sample.image = normalised_image(resized, options_.mean, options_.std);
    sample.target = label_tensor(label);
    sample.meta = at::tensor(
        std::vector<double>{static_cast<double>(size.height), static_cast<double>(size.width),
                            static_cast<double>(label.rows), static_cast<double>(label.cols)},
        at::kDouble);
    return sample;
  }

  const double ratio = rng.uniform(options_.ratio_min, options_.ratio_max);
  const cv::Size size =
      rescale_size(image.cols, image.rows, static_cast<int>(options_.scale_long * ratio),
                   static_cast<int>(options_.scale_short * ratio));
  cv::resize(image, image, size, 0, 0, cv::INTER_LINEAR);
  cv::resize(label, label, size, 0, 0, cv::INTER_NEAREST);

  // RandomCrop with cat_max_ratio.
  auto draw = [&] {
    const int mh = std::max(image.rows - options_.crop_h, 0);
    const int mw = std::max(image.cols - options_.crop_w, 0);
    const int y = static_cast<int>(rng.randint(0, mh)), x = static_cast<int>(rng.randint(0, mw));
    return cv::Rect(x, y, std::min(options_.crop_w, image.cols),
                    std::min(options_.crop_h, image.rows));
  };
  cv::Rect crop = draw();
  if (options_.cat_max_ratio < 1.0) {
    for (int attempt = 0; attempt < 10; ++attempt) {
      std::map<int, int64_t> counts;
      const cv::Mat part = label(crop);
      for (int r = 0; r < part.rows; ++r)
        for (int c = 0; c < part.cols; ++c) {
          const int v = part.at<uint8_t>(r, c);
          if (v != 255) ++counts[v];
        }
      int64_t total = 0, most = 0;
      for (const auto& [v, n] : counts) {
        total += n;
        most = std::max(most, n);
      }
      if (counts.size() > 1 &&
          static_cast<double>(most) / static_cast<double>(total) < options_.cat_max_ratio)
        break;
      crop = draw();
    }
  }
  image = image(crop).clone();
  label = label(crop).clone();
  if (options_.flip > 0 && rng.bernoulli(options_.flip)) {
    cv::flip(image, image, 1);
    cv::flip(label, label, 1);
  }
  if (options_.photometric) photometric_distortion(image, rng);
  const int pad_h = std::max(options_.crop_h - image.rows, 0);
  const int pad_w = std::max(options_.crop_w - image.cols, 0);
  sample.image = at::constant_pad_nd(normalised_image(image, options_.mean, options_.std),
                                     {0, pad_w, 0, pad_h}, 0);
  sample.target = at::constant_pad_nd(label_tensor(label), {0, pad_w, 0, pad_h}, 255);
  sample.meta = at::tensor(
      std::vector<double>{static_cast<double>(image.rows), static_cast<double>(image.cols),
                          static_cast<double>(image.rows), static_cast<double>(image.cols)},
      at::kDouble);
  return sample;
}

}  // namespace vitrine::data
