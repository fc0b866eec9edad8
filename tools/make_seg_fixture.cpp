// Writes a small synthetic semantic-segmentation dataset in ADE20K's real layout:
//   OUT/images/{training,validation}/ADE_{train,val}_%08d.jpg
//   OUT/annotations/{training,validation}/ADE_{train,val}_%08d.png   (8-bit label maps)
// Labels as ADE20K stores them, before reduce_zero_label: 0 "other" (ignored in training and
// scoring: a stripe along one border), 1 background, 2 square, 3 disk, 4 triangle — four
// classes after reduction. Shapes have random colours on a smooth random background, so the
// classes must be told apart by shape, not colour. Images are W x H with W != H (odd sizes
// exercise keep-ratio resizing).
//
//   vitrine-make-seg-fixture --out DIR [--train N] [--val N] [--width PX] [--height PX] [--seed N]
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "data/random.h"

namespace fs = std::filesystem;
using vitrine::data::Rng;

namespace {

void write_split(const fs::path& out, const std::string& split, const std::string& prefix,
                 int count, int width, int height, Rng& rng) {
  const fs::path images = out / "images" / split, labels = out / "annotations" / split;
  fs::create_directories(images);
  fs::create_directories(labels);
  for (int n = 0; n < count; ++n) {
    cv::Mat corners(2, 2, CV_8UC3);
    for (int i = 0; i < 4; ++i)
      corners.at<cv::Vec3b>(i / 2, i % 2) =
          cv::Vec3b(rng.randint(30, 140), rng.randint(30, 140), rng.randint(30, 140));
    cv::Mat image;
    cv::resize(corners, image, cv::Size(width, height), 0, 0, cv::INTER_LINEAR);
    cv::Mat label(height, width, CV_8UC1, cv::Scalar(1));
    const int side = std::min(width, height);
    const int shapes = static_cast<int>(rng.randint(1, 4));
    for (int s = 0; s < shapes; ++s) {
      const int type = static_cast<int>(rng.randint(0, 2));
      const double r = rng.uniform(side / 10.0, side / 4.0);
      const double cx = rng.uniform(r, width - r), cy = rng.uniform(r, height - r);
      std::vector<cv::Point> poly;
      if (type == 0) {
        poly = {{int(cx - r), int(cy - r)},
                {int(cx + r), int(cy - r)},
                {int(cx + r), int(cy + r)},
                {int(cx - r), int(cy + r)}};
      } else if (type == 1) {
        for (int k = 0; k < 32; ++k)
          poly.emplace_back(int(std::lround(cx + r * std::cos(2 * M_PI * k / 32))),
                            int(std::lround(cy + r * std::sin(2 * M_PI * k / 32))));
      } else {
        poly = {{int(cx), int(cy - r)}, {int(cx + r), int(cy + r)}, {int(cx - r), int(cy + r)}};
      }
      const cv::Scalar colour(rng.randint(120, 255), rng.randint(120, 255), rng.randint(120, 255));
      const std::vector<std::vector<cv::Point>> polys{poly};
      cv::fillPoly(image, polys, colour);
      cv::fillPoly(label, polys, cv::Scalar(2 + type));
    }
    // An "other" stripe (label 0): ignored after reduce_zero_label.
    const int stripe = std::max(2, height / 16);
    label(cv::Rect(0, height - stripe, width, stripe)).setTo(0);
    image(cv::Rect(0, height - stripe, width, stripe)).setTo(cv::Scalar(20, 20, 20));
    char name[64];
    std::snprintf(name, sizeof(name), "ADE_%s_%08d", prefix.c_str(), n + 1);
    cv::Mat bgr;
    cv::cvtColor(image, bgr, cv::COLOR_RGB2BGR);
    if (!cv::imwrite((images / (std::string(name) + ".jpg")).string(), bgr,
                     {cv::IMWRITE_JPEG_QUALITY, 95}) ||
        !cv::imwrite((labels / (std::string(name) + ".png")).string(), label))
      throw std::runtime_error("cannot write under " + out.string());
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Write a synthetic ADE20K-layout segmentation dataset"};
  std::string out;
  int train = 60, val = 12, width = 96, height = 72;
  uint64_t seed = 0;
  app.add_option("--out", out, "Output folder")->required();
  app.add_option("--train", train, "Training images");
  app.add_option("--val", val, "Validation images");
  app.add_option("--width", width, "Image width");
  app.add_option("--height", height, "Image height");
  app.add_option("--seed", seed, "Random seed");
  CLI11_PARSE(app, argc, argv);
  try {
    if (train < 1 || val < 1 || width < 32 || height < 32)
      throw std::runtime_error("need at least one image per split and 32 px sides");
    Rng rng(seed);
    write_split(out, "training", "train", train, width, height, rng);
    write_split(out, "validation", "val", val, width, height, rng);
    std::cout << "wrote " << train << " training and " << val << " validation images to " << out
              << "\n";
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
