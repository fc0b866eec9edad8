// Writes an IDX dataset (Fashion-MNIST by default) out as an ImageNet-style folder of PNGs,
// the layout `data.format=image_folder` reads: OUT/train/<class>/<n>.png and OUT/val/...,
// plus train.csv / val.csv file lists ("path,label") for `data.format=file_list`. Tests and
// the ImageNet recipe smoke runs use it to get real images in the real on-disk format.
//
//   vitrine-make-image-folder --out DIR [--idx-root DIR] [--train-per-class N]
//                             [--val-per-class N] [--size PX] [--rgb] [--corrupt N]
#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "data/idx_dataset.h"

namespace fs = std::filesystem;
using vitrine::data::IdxDataset;

namespace {

// "T-shirt/top" -> "00_T-shirt_top": label-ordered names that sort like the labels.
std::string class_folder(int64_t label, const std::string& name) {
  std::string clean;
  for (char c : name) clean += (std::isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '_';
  char prefix[8];
  std::snprintf(prefix, sizeof(prefix), "%02lld_", static_cast<long long>(label));
  return prefix + clean;
}

void write_split(const IdxDataset& source, const std::string& out, const std::string& split,
                 int per_class, int size, bool rgb, int corrupt) {
  std::map<int64_t, int> written;
  std::ofstream list(out + "/" + split + ".csv");
  list << "path,label\n";
  const auto names = source.classes();
  for (int64_t i = 0; i < source.size(); ++i) {
    const int64_t label = source.label(i);
    if (written[label] >= per_class) continue;
    const std::string name =
        label < static_cast<int64_t>(names.size()) ? names[label] : std::to_string(label);
    const std::string folder = split + "/" + class_folder(label, name);
    fs::create_directories(out + "/" + folder);
    char file[32];
    std::snprintf(file, sizeof(file), "%05lld.png", static_cast<long long>(i));
    const std::string relative = folder + "/" + file;
    cv::Mat image = source.get(i).image;
    if (size > 0 && size != image.cols) cv::resize(image, image, cv::Size(size, size));
    if (rgb) cv::cvtColor(image, image, cv::COLOR_GRAY2BGR);
    if (!cv::imwrite(out + "/" + relative, image))
      throw std::runtime_error("cannot write " + out + "/" + relative);
    list << relative << "," << label << "\n";
    ++written[label];
  }
  // Corrupt files: PNG names with bytes no decoder accepts (for bad-image handling tests).
  for (int c = 0; c < corrupt; ++c) {
    const std::string folder = split + "/" + class_folder(0, names.empty() ? "0" : names[0]);
    const std::string relative = folder + "/corrupt" + std::to_string(c) + ".png";
    std::ofstream(out + "/" + relative, std::ios::binary) << "this is not an image";
    list << relative << ",0\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Write an IDX dataset as an ImageNet-style PNG folder", "vitrine-make-image-folder"};
  std::string out, idx_root = "/usr/share/datasets/fashion-mnist";
  int train_per_class = 100, val_per_class = 50, size = 0, corrupt = 0;
  bool rgb = false;
  app.add_option("--out", out, "Output folder")->required();
  app.add_option("--idx-root", idx_root, "Folder of the IDX files")->capture_default_str();
  app.add_option("--train-per-class", train_per_class)->capture_default_str();
  app.add_option("--val-per-class", val_per_class)->capture_default_str();
  app.add_option("--size", size, "Resize to SIZE x SIZE (0 keeps 28)")->capture_default_str();
  app.add_flag("--rgb", rgb, "Write 3-channel images");
  app.add_option("--corrupt", corrupt, "Undecodable files to add to train/ (class 0)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    const auto names = vitrine::data::fashion_mnist_classes();
    fs::create_directories(out);
    write_split(IdxDataset(idx_root, "train", names), out, "train", train_per_class, size, rgb,
                corrupt);
    write_split(IdxDataset(idx_root, "test", names), out, "val", val_per_class, size, rgb, 0);
  } catch (const std::exception& e) {
    std::cerr << "Error: " << e.what() << std::endl;
    return 1;
  }
  std::cout << "wrote " << out << "/{train,val} and " << out << "/{train,val}.csv" << std::endl;
  return 0;
}
