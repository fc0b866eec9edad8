// Writes a small synthetic detection/instance-segmentation dataset in COCO's real layout:
//   OUT/train2017/000000000001.png ...  OUT/val2017/...
//   OUT/annotations/instances_train2017.json, instances_val2017.json
// Each image has 1-4 shapes of three categories (1 square, 2 disk, 3 triangle; ids as COCO
// keeps them, not contiguous: 1, 3, 5) on a smooth background, with exact polygons
// (disks as 24-gons), boxes [x, y, w, h] and polygon areas; every fifth image also has a crowd
// region (uncompressed RLE) over a patch of small dots. Tests and detection smoke runs use it.
//
//   vitrine-make-coco-fixture --out DIR [--train N] [--val N] [--size PX] [--seed N]
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <vector>

#include "data/random.h"

namespace fs = std::filesystem;
using vitrine::data::Rng;

namespace {

const int kCategoryIds[3] = {1, 3, 5};
const char* kCategoryNames[3] = {"square", "disk", "triangle"};

double polygon_area(const std::vector<cv::Point2d>& p) {
  double s = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const cv::Point2d& a = p[i];
    const cv::Point2d& b = p[(i + 1) % p.size()];
    s += a.x * b.y - b.x * a.y;
  }
  return std::abs(s) / 2;
}

std::string number(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.2f", v);
  return buffer;
}

struct Writer {
  std::ostringstream images, annotations;
  int64_t next_annotation = 1;
  bool first_image = true, first_annotation = true;
};

void write_split(const fs::path& out, const std::string& split, int count, int size, Rng& rng,
                 int64_t first_id, std::ostream& json) {
  fs::create_directories(out / split);
  Writer w;
  for (int n = 0; n < count; ++n) {
    const int64_t image_id = first_id + n;
    cv::Mat corners(2, 2, CV_8UC3);
    for (int i = 0; i < 4; ++i)
      corners.at<cv::Vec3b>(i / 2, i % 2) =
          cv::Vec3b(rng.randint(30, 120), rng.randint(30, 120), rng.randint(30, 120));
    cv::Mat image;
    cv::resize(corners, image, cv::Size(size, size), 0, 0, cv::INTER_LINEAR);
    const int shapes = static_cast<int>(rng.randint(1, 4));
    for (int s = 0; s < shapes; ++s) {
      const int type = static_cast<int>(rng.randint(0, 2));
      const double r = rng.uniform(size / 12.0, size / 5.0);
      const double cx = rng.uniform(r + 1, size - r - 1), cy = rng.uniform(r + 1, size - r - 1);
      std::vector<cv::Point2d> poly;
      if (type == 0) {
        poly = {{cx - r, cy - r}, {cx + r, cy - r}, {cx + r, cy + r}, {cx - r, cy + r}};
      } else if (type == 1) {
        for (int k = 0; k < 24; ++k)
          poly.emplace_back(cx + r * std::cos(2 * M_PI * k / 24),
                            cy + r * std::sin(2 * M_PI * k / 24));
      } else {
        poly = {{cx, cy - r}, {cx + r, cy + r}, {cx - r, cy + r}};
      }
      std::vector<cv::Point> pixels;
      for (const auto& p : poly)
        pixels.emplace_back(static_cast<int>(std::lround(p.x)), static_cast<int>(std::lround(p.y)));
      const cv::Scalar colour(rng.randint(140, 255), rng.randint(140, 255), rng.randint(140, 255));
      cv::fillPoly(image, std::vector<std::vector<cv::Point>>{pixels}, colour, cv::LINE_AA);
      double x0 = 1e9, y0 = 1e9, x1 = -1e9, y1 = -1e9;
      std::string flat;
      for (const auto& p : poly) {
        x0 = std::min(x0, p.x), y0 = std::min(y0, p.y), x1 = std::max(x1, p.x),
        y1 = std::max(y1, p.y);
        flat += (flat.empty() ? "" : ", ") + number(p.x) + ", " + number(p.y);
      }
      w.annotations << (w.first_annotation ? "" : ",\n    ") << "{\"id\": " << w.next_annotation++
                    << ", \"image_id\": " << image_id << ", \"category_id\": " << kCategoryIds[type]
                    << ", \"bbox\": [" << number(x0) << ", " << number(y0) << ", "
                    << number(x1 - x0) << ", " << number(y1 - y0)
                    << "], \"area\": " << number(polygon_area(poly))
                    << ", \"iscrowd\": 0, \"segmentation\": [[" << flat << "]]}";
      w.first_annotation = false;
    }
    if (n % 5 == 4) {
      // A crowd of small dots in one corner, annotated as one RLE region (column-major runs).
      const int side = size / 4, x = 0, y = size - side;
      cv::Mat mask = cv::Mat::zeros(size, size, CV_8UC1);
      mask(cv::Rect(x, y, side, side)).setTo(1);
      for (int k = 0; k < 12; ++k)
        cv::circle(image,
                   cv::Point(x + static_cast<int>(rng.randint(2, side - 3)),
                             y + static_cast<int>(rng.randint(2, side - 3))),
                   2, cv::Scalar(230, 230, 230), -1, cv::LINE_AA);
      std::vector<int64_t> counts;
      int64_t run = 0;
      uint8_t current = 0;
      for (int col = 0; col < size; ++col)
        for (int row = 0; row < size; ++row) {
          const uint8_t v = mask.at<uint8_t>(row, col);
          if (v != current) {
            counts.push_back(run);
            run = 0;
            current = v;
          }
          ++run;
        }
      counts.push_back(run);
      std::string list;
      for (int64_t c : counts) list += (list.empty() ? "" : ", ") + std::to_string(c);
      w.annotations << (w.first_annotation ? "" : ",\n    ") << "{\"id\": " << w.next_annotation++
                    << ", \"image_id\": " << image_id << ", \"category_id\": 3, \"bbox\": [" << x
                    << ", " << y << ", " << side << ", " << side << "], \"area\": " << side * side
                    << ", \"iscrowd\": 1, \"segmentation\": {\"counts\": [" << list
                    << "], \"size\": [" << size << ", " << size << "]}}";
      w.first_annotation = false;
    }
    char file[32];
    std::snprintf(file, sizeof(file), "%012lld.png", static_cast<long long>(image_id));
    cv::Mat bgr;
    cv::cvtColor(image, bgr, cv::COLOR_RGB2BGR);
    if (!cv::imwrite((out / split / file).string(), bgr))
      throw std::runtime_error("cannot write " + (out / split / file).string());
    w.images << (w.first_image ? "" : ",\n    ") << "{\"id\": " << image_id << ", \"file_name\": \""
             << file << "\", \"width\": " << size << ", \"height\": " << size << "}";
    w.first_image = false;
  }
  json << "{\"info\": {\"description\": \"vitrine synthetic shapes\"},\n \"images\": [\n    "
       << w.images.str() << "],\n \"annotations\": [\n    " << w.annotations.str()
       << "],\n \"categories\": [";
  for (int c = 0; c < 3; ++c)
    json << (c ? ", " : "") << "{\"id\": " << kCategoryIds[c] << ", \"name\": \""
         << kCategoryNames[c] << "\", \"supercategory\": \"shape\"}";
  json << "]}\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Write a synthetic COCO-format detection dataset"};
  std::string out;
  int train = 40, val = 10, size = 128;
  uint64_t seed = 5;
  app.add_option("--out", out, "Output folder")->required();
  app.add_option("--train", train, "Training images")->capture_default_str();
  app.add_option("--val", val, "Validation images")->capture_default_str();
  app.add_option("--size", size, "Image side in pixels")->capture_default_str();
  app.add_option("--seed", seed, "Seed")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    Rng rng(seed);
    fs::create_directories(fs::path(out) / "annotations");
    std::ofstream train_json(fs::path(out) / "annotations" / "instances_train2017.json");
    write_split(out, "train2017", train, size, rng, 1, train_json);
    std::ofstream val_json(fs::path(out) / "annotations" / "instances_val2017.json");
    write_split(out, "val2017", val, size, rng, 100000, val_json);
    std::cout << "wrote " << train << " training and " << val << " validation images to " << out
              << "\n";
  } catch (const std::exception& e) {
    std::cerr << "Error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
