// Writes a paired SR dataset in DIV2K's layout, the layout `data.format=sr_pairs` reads:
//   OUT/DIV2K_train_HR/0001.png, OUT/DIV2K_train_LR_bicubic/X<s>/0001x<s>.png  (--train N)
//   OUT/DIV2K_valid_HR/0801.png, OUT/DIV2K_valid_LR_bicubic/X<s>/0801x<s>.png  (--valid N)
// HR images are synthetic (data/sr/synthetic_images.h), or crops of the images in --from (any
// folder of natural images); LR images are their MATLAB-bicubic downscales. Tests and the
// embedded SR example use it.
//
//   vitrine-make-sr-folder --out DIR [--train N] [--valid N] [--size PX] [--scale S]
//                          [--seed N] [--from DIR]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "data/image_decode.h"
#include "data/sr/synthetic_images.h"
#include "data/transforms/matlab_resize.h"

namespace fs = std::filesystem;

namespace {

// Crops of `size` from the source images, in turn: the centre, then the corners.
std::vector<cv::Mat> crops_from(const std::string& dir, int size, int wanted) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && vitrine::data::has_image_extension(e.path().string()))
      files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  std::vector<cv::Mat> images;
  for (const auto& f : files) {
    cv::Mat rgb;
    try {
      rgb = vitrine::data::decode_image_file(f, 3);
    } catch (const std::exception&) {
      continue;  // not every file in a data folder is an image we read
    }
    if (rgb.rows >= size && rgb.cols >= size) images.push_back(rgb);
  }
  std::vector<cv::Mat> out;
  for (int pass = 0; pass < 5 && static_cast<int>(out.size()) < wanted && !images.empty(); ++pass)
    for (const cv::Mat& m : images) {
      if (static_cast<int>(out.size()) >= wanted) break;
      const int x = pass == 0 ? (m.cols - size) / 2 : (pass % 2 ? 0 : m.cols - size);
      const int y = pass == 0 ? (m.rows - size) / 2 : (pass < 3 ? 0 : m.rows - size);
      out.push_back(m(cv::Rect(x, y, size, size)).clone());
    }
  return out;
}

void write(const fs::path& path, const cv::Mat& rgb) {
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  if (!cv::imwrite(path.string(), bgr)) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Write a DIV2K-layout paired SR dataset (HR + MATLAB-bicubic LR)"};
  std::string out, from;
  int train = 16, valid = 4, size = 192, scale = 4;
  uint64_t seed = 7;
  app.add_option("--out", out, "Output folder")->required();
  app.add_option("--train", train, "Training images")->capture_default_str();
  app.add_option("--valid", valid, "Validation images")->capture_default_str();
  app.add_option("--size", size, "HR side in pixels")->capture_default_str();
  app.add_option("--scale", scale, "Downscaling factor")->capture_default_str();
  app.add_option("--seed", seed, "Seed of the synthetic images")->capture_default_str();
  app.add_option("--from", from, "Folder of natural images to crop instead of synthesising");
  CLI11_PARSE(app, argc, argv);
  if (size % scale != 0) {
    std::cerr << "--size must be a multiple of --scale\n";
    return 2;
  }
  try {
    std::vector<cv::Mat> sources;
    if (!from.empty()) {
      sources = crops_from(from, size, train + valid);
      if (static_cast<int>(sources.size()) < train + valid) {
        std::cerr << "--from " << from << ": only " << sources.size() << " crops of " << size
                  << " px for " << train + valid << " images\n";
        return 1;
      }
    }
    const std::string x = "X" + std::to_string(scale);
    for (const char* split : {"train", "valid"}) {
      const bool is_train = std::string(split) == "train";
      const fs::path hr_dir = fs::path(out) / (std::string("DIV2K_") + split + "_HR");
      const fs::path lr_dir = fs::path(out) / (std::string("DIV2K_") + split + "_LR_bicubic") / x;
      fs::create_directories(hr_dir);
      fs::create_directories(lr_dir);
      const int count = is_train ? train : valid, first = is_train ? 1 : 801;
      for (int i = 0; i < count; ++i) {
        const int index = is_train ? i : train + i;
        const cv::Mat hr =
            from.empty() ? vitrine::data::synthetic_sr_image(size, seed, index) : sources[index];
        char stem[16];
        std::snprintf(stem, sizeof(stem), "%04d", first + i);
        write(hr_dir / (std::string(stem) + ".png"), hr);
        write(lr_dir / (std::string(stem) + "x" + std::to_string(scale) + ".png"),
              vitrine::data::matlab_imresize(hr, 1.0 / scale));
      }
    }
    std::cout << "wrote " << train << " training and " << valid << " validation pairs (x" << scale
              << ", HR " << size << " px) to " << out << "\n";
  } catch (const std::exception& e) {
    std::cerr << "Error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
