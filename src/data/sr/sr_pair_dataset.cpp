#include "data/sr/sr_pair_dataset.h"

#include <algorithm>
#include <filesystem>
#include <opencv2/core.hpp>

#include "data/dataset.h"
#include "data/image_decode.h"
#include "data/transforms/matlab_resize.h"

namespace vitrine::data {
namespace fs = std::filesystem;
namespace {

std::string expand(std::string pattern, const std::string& stem, int scale) {
  auto replace = [&](const std::string& key, const std::string& value) {
    for (size_t at = pattern.find(key); at != std::string::npos; at = pattern.find(key, at))
      pattern.replace(at, key.size(), value), at += value.size();
  };
  replace("{stem}", stem);
  replace("{scale}", std::to_string(scale));
  return pattern;
}

std::string find_lr(const fs::path& dir, const std::string& stem, const SrPairOptions& o) {
  for (const std::string& pattern : o.lr_patterns) {
    const std::string base = expand(pattern, stem, o.scale);
    for (const char* ext : {".png", ".PNG", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}) {
      const fs::path candidate = dir / (base + ext);
      if (fs::exists(candidate)) return candidate.string();
    }
  }
  std::string tried;
  for (const std::string& p : o.lr_patterns)
    tried += (tried.empty() ? "" : ", ") + expand(p, stem, o.scale);
  throw DataError("no low-resolution image for '" + stem + "' in " + dir.string() + " (tried " +
                  tried + " with an image extension)");
}

cv::Mat crop(const cv::Mat& image, int rows, int cols) {
  return image(cv::Rect(0, 0, cols, rows)).clone();
}

}  // namespace

SrPairDataset::SrPairDataset(SrPairOptions options) : options_(std::move(options)) {
  if (options_.scale < 1) throw DataError("SR data: scale must be at least 1");
  if (options_.channels != 1 && options_.channels != 3)
    throw DataError("SR data: channels must be 1 or 3");
  const fs::path hr_dir(options_.hr_dir);
  if (!fs::is_directory(hr_dir))
    throw MissingDataError("SR data: HR folder '" + options_.hr_dir + "' does not exist");
  for (const auto& entry : fs::directory_iterator(hr_dir))
    if (entry.is_regular_file() && has_image_extension(entry.path().string()))
      hr_files_.push_back(entry.path().string());
  std::sort(hr_files_.begin(), hr_files_.end());
  if (hr_files_.empty()) throw DataError("SR data: no images in '" + options_.hr_dir + "'");
  if (!options_.lr_dir.empty() && !fs::is_directory(options_.lr_dir))
    throw MissingDataError("SR data: LR folder '" + options_.lr_dir + "' does not exist");
  for (const std::string& hr : hr_files_)
    lr_files_.push_back(options_.lr_dir.empty()
                            ? std::string()
                            : find_lr(options_.lr_dir, fs::path(hr).stem().string(), options_));
}

std::string SrPairDataset::name(int64_t index) const {
  return fs::path(hr_files_.at(index)).stem().string();
}

SrPair SrPairDataset::get(int64_t index) const {
  const int s = options_.scale;
  SrPair pair;
  pair.hr = decode_image_file(hr_files_.at(index), options_.channels);
  if (lr_files_[index].empty()) {
    // Mod-crop, then MATLAB bicubic (the LR sets' recipe).
    pair.hr = crop(pair.hr, pair.hr.rows / s * s, pair.hr.cols / s * s);
    if (pair.hr.rows == 0 || pair.hr.cols == 0)
      throw DataError(hr_files_[index] + ": smaller than the scale " + std::to_string(s));
    pair.lr = matlab_imresize(pair.hr, 1.0 / s);
  } else {
    pair.lr = decode_image_file(lr_files_[index], options_.channels);
    if (pair.lr.rows * s > pair.hr.rows || pair.lr.cols * s > pair.hr.cols)
      throw DataError(lr_files_[index] + ": " + std::to_string(pair.lr.cols) + "x" +
                      std::to_string(pair.lr.rows) + " times " + std::to_string(s) +
                      " exceeds its HR image " + hr_files_[index] + " (" +
                      std::to_string(pair.hr.cols) + "x" + std::to_string(pair.hr.rows) + ")");
    pair.hr = crop(pair.hr, pair.lr.rows * s, pair.lr.cols * s);
  }
  return pair;
}

SrPair random_sr_patch(const SrPair& pair, int lr_patch, int scale, Rng& rng) {
  if (pair.lr.rows < lr_patch || pair.lr.cols < lr_patch)
    throw DataError("SR data: a " + std::to_string(pair.lr.cols) + "x" +
                    std::to_string(pair.lr.rows) + " LR image is smaller than the " +
                    std::to_string(lr_patch) + "x" + std::to_string(lr_patch) + " training patch");
  const int top = static_cast<int>(rng.randint(0, pair.lr.rows - lr_patch));
  const int left = static_cast<int>(rng.randint(0, pair.lr.cols - lr_patch));
  SrPair out;
  out.lr = pair.lr(cv::Rect(left, top, lr_patch, lr_patch)).clone();
  out.hr = pair.hr(cv::Rect(left * scale, top * scale, lr_patch * scale, lr_patch * scale)).clone();
  const bool hflip = rng.uniform() < 0.5, vflip = rng.uniform() < 0.5,
             transpose = rng.uniform() < 0.5;
  for (cv::Mat* m : {&out.lr, &out.hr}) {
    if (hflip) cv::flip(*m, *m, 1);
    if (vflip) cv::flip(*m, *m, 0);
    if (transpose) cv::transpose(*m, *m);
  }
  return out;
}

}  // namespace vitrine::data
