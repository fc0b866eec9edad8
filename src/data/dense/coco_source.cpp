#include "data/dense/coco_source.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>

#include "data/dataset.h"
#include "data/dense/normalised_image.h"
#include "data/image_decode.h"
#include "data/transforms/det_transforms.h"

namespace vitrine::data {

CocoSource::CocoSource(CocoSourceOptions options) : options_(std::move(options)) {
  if (options_.long_edge < 1 || options_.short_edge < 1 || options_.size_divisor < 1)
    throw DataError("COCO data: img_scale and size_divisor must be positive");
  if (!std::filesystem::is_directory(options_.image_dir))
    throw MissingDataError("COCO data: image folder '" + options_.image_dir + "' does not exist");
  try {
    dataset_ = load_coco_json(options_.annotation_file);
  } catch (const CocoFormatError& e) {
    throw DataError(e.what());
  }
  if (dataset_.categories.empty())
    throw DataError("COCO data: " + options_.annotation_file + " lists no categories");
  std::vector<CocoCategory> categories = dataset_.categories;
  std::sort(categories.begin(), categories.end(),
            [](const auto& a, const auto& b) { return a.id < b.id; });
  for (size_t i = 0; i < categories.size(); ++i) {
    category_ids_.push_back(categories[i].id);
    category_index_.emplace_back(categories[i].id, static_cast<int64_t>(i));
  }
  for (const CocoAnnotation& a : dataset_.annotations) by_image_[a.image_id].push_back(&a);
  for (size_t i = 0; i < dataset_.images.size(); ++i) {
    const CocoImage& image = dataset_.images[i];
    if (options_.train && (!by_image_.count(image.id) || std::min(image.width, image.height) < 32))
      continue;
    images_.push_back(i);
  }
  if (images_.empty())
    throw DataError("COCO data: " + options_.annotation_file + " has no usable images" +
                    (options_.train ? " (training needs annotated images of at least 32 px)" : ""));
}

std::string CocoSource::source(int64_t index) const {
  return (std::filesystem::path(options_.image_dir) /
          dataset_.images[images_[static_cast<size_t>(index)]].file_name)
      .string();
}

std::vector<std::string> CocoSource::classes() const {
  std::vector<std::string> names(category_ids_.size());
  for (const auto& c : dataset_.categories)
    for (size_t i = 0; i < category_ids_.size(); ++i)
      if (category_ids_[i] == c.id) names[i] = c.name;
  return names;
}

std::string CocoSource::describe() const {
  return "COCO " + options_.annotation_file + ": " + std::to_string(size()) + " images, " +
         std::to_string(category_ids_.size()) + " categories, resize " +
         std::to_string(options_.long_edge) + "x" + std::to_string(options_.short_edge) +
         " keep ratio" + (options_.train ? ", flip " + std::to_string(options_.flip) : "") +
         ", pad to " + std::to_string(options_.size_divisor);
}

Sample CocoSource::load(int64_t index, Rng& rng) const {
  const CocoImage& info = dataset_.images[images_[static_cast<size_t>(index)]];
  DetSample s;
  s.image = decode_image_file(source(index), 3);
  if (s.image.cols != info.width || s.image.rows != info.height)
    throw DataError("the image is " + std::to_string(s.image.cols) + "x" +
                    std::to_string(s.image.rows) + " but the annotation file says " +
                    std::to_string(info.width) + "x" + std::to_string(info.height));
  if (auto found = by_image_.find(info.id); found != by_image_.end())
    coco_targets(found->second, category_index_, s);
  const int original_w = s.image.cols, original_h = s.image.rows;
  resize_keep_ratio(s, options_.long_edge, options_.short_edge);
  if (options_.train && options_.flip > 0 && rng.bernoulli(options_.flip)) flip_horizontal(s);

  // Normalise (RGB order), then pad with zeros to the size divisor.
  const cv::Mat& image = s.image;
  const at::Tensor chw = normalised_image(image, options_.mean, options_.std);
  const int64_t d = options_.size_divisor;
  const int64_t padded_h = (image.rows + d - 1) / d * d, padded_w = (image.cols + d - 1) / d * d;
  Sample sample;
  sample.image = at::constant_pad_nd(chw, {0, padded_w - image.cols, 0, padded_h - image.rows}, 0);
  std::vector<float> rows;
  for (size_t i = 0; i < s.boxes.size(); ++i) {
    for (double v : s.boxes[i]) rows.push_back(static_cast<float>(v));
    rows.push_back(static_cast<float>(s.labels[i]));
  }
  sample.target = at::tensor(rows, at::kFloat).view({static_cast<int64_t>(s.boxes.size()), 5});
  sample.label = info.id;
  sample.meta = at::tensor(
      std::vector<double>{static_cast<double>(info.id), static_cast<double>(original_h),
                          static_cast<double>(original_w), static_cast<double>(image.rows),
                          static_cast<double>(image.cols),
                          static_cast<double>(image.cols) / original_w,
                          static_cast<double>(image.rows) / original_h,
                          static_cast<double>(padded_h), static_cast<double>(padded_w)},
      at::kDouble);
  return sample;
}

}  // namespace vitrine::data
