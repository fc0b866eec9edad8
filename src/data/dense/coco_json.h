// COCO's annotation files (instances_*.json) and detection results, read with simdjson's
// on-demand parser (no DOM: memory is the file plus what is kept). Keeps what detection and
// instance segmentation need: images (id, file_name, width, height), categories (id, name),
// annotations (id, image_id, category_id, bbox [x, y, w, h], area, iscrowd, and the
// segmentation as polygons or RLE — counts as a list or COCO's compressed string).
#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace vitrine::data {

class CocoFormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The ground truth COCOeval reads from an annotation (iscrowd doubles as pycocotools'
// ignore flag) and one entry of a results file.
struct CocoGroundTruth {
  int64_t id = 0;  // annotation id (> 0, as COCO's)
  int64_t image_id = 0;
  int64_t category_id = 0;
  std::array<double, 4> bbox{};  // x, y, w, h
  double area = 0;               // the annotation's area field
  bool iscrowd = false;
};

struct CocoDetection {
  int64_t image_id = 0;
  int64_t category_id = 0;
  std::array<double, 4> bbox{};
  double score = 0;
};

struct CocoImage {
  int64_t id = 0;
  std::string file_name;
  int64_t width = 0, height = 0;
};

struct CocoCategory {
  int64_t id = 0;
  std::string name;
};

struct CocoSegmentation {
  std::vector<std::vector<double>> polygons;  // [x0, y0, x1, y1, ...] each
  std::vector<int64_t> rle_counts;            // uncompressed RLE
  std::string rle_string;                     // compressed RLE (COCO's LEB128-like string)
  std::array<int64_t, 2> rle_size{0, 0};      // [height, width]
  bool is_rle() const { return rle_size[0] > 0; }
};

struct CocoAnnotation {
  int64_t id = 0, image_id = 0, category_id = 0;
  std::array<double, 4> bbox{};
  double area = 0;
  bool iscrowd = false;
  CocoSegmentation segmentation;
};

struct CocoDataset {
  std::vector<CocoImage> images;
  std::vector<CocoCategory> categories;
  std::vector<CocoAnnotation> annotations;
  // The annotations as COCOeval ground truth.
  std::vector<CocoGroundTruth> ground_truth() const;
};

// Throws CocoFormatError naming the file and what is wrong.
CocoDataset load_coco_json(const std::string& path);
// A results file ([{"image_id", "category_id", "bbox", "score"}, ...]); throws CocoFormatError.
std::vector<CocoDetection> load_coco_results(const std::string& path);
// Writes detections in that format (category ids as given: map them back before).
void write_coco_results(const std::string& path, const std::vector<CocoDetection>& detections);

}  // namespace vitrine::data
