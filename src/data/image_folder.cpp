#include "data/image_folder.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "data/image_decode.h"

namespace vitrine::data {
namespace fs = std::filesystem;

Example ImageFileDataset::get(int64_t index) const {
  const auto& [path, label] = files_.at(static_cast<size_t>(index));
  return Example{decode_image_file(path, channels_), label};
}

ImageFolderDataset::ImageFolderDataset(const std::string& directory, int channels)
    : ImageFileDataset(channels) {
  std::error_code error;
  if (!fs::is_directory(directory, error))
    throw MissingDataError("image folder '" + directory + "' does not exist or is not a directory");
  for (const auto& entry : fs::directory_iterator(directory, error))
    if (entry.is_directory()) classes_.push_back(entry.path().filename().string());
  if (classes_.empty())
    throw DataError("image folder '" + directory +
                    "' has no class sub-directories (expected <root>/<class>/<image>)");
  std::sort(classes_.begin(), classes_.end());
  for (size_t label = 0; label < classes_.size(); ++label) {
    std::vector<std::string> images;
    const fs::path class_dir = fs::path(directory) / classes_[label];
    for (const auto& entry : fs::recursive_directory_iterator(
             class_dir, fs::directory_options::follow_directory_symlink, error))
      if (entry.is_regular_file() && has_image_extension(entry.path().string()))
        images.push_back(entry.path().string());
    if (images.empty())
      throw DataError("image folder '" + directory + "': class '" + classes_[label] +
                      "' has no image files");
    std::sort(images.begin(), images.end());
    for (auto& path : images) files_.emplace_back(std::move(path), static_cast<int64_t>(label));
  }
  num_classes_ = static_cast<int64_t>(classes_.size());
}

FileListDataset::FileListDataset(const std::string& list_path, const std::string& image_root,
                                 int channels, int64_t num_classes)
    : ImageFileDataset(channels) {
  std::ifstream in(list_path);
  if (!in) throw MissingDataError("file list '" + list_path + "' cannot be opened");
  std::string line;
  int line_number = 0;
  int64_t largest = -1;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    const size_t sep = line.find_last_of(",\t ");
    if (sep == std::string::npos || sep == 0)
      throw DataError(list_path + ":" + std::to_string(line_number) +
                      ": expected '<path> <label>', got '" + line + "'");
    std::string path = line.substr(first, sep - first);
    while (!path.empty() && (path.back() == ' ' || path.back() == ',' || path.back() == '\t'))
      path.pop_back();
    const std::string label_text = line.substr(sep + 1);
    int64_t label = 0;
    try {
      size_t used = 0;
      label = std::stoll(label_text, &used);
      if (used != label_text.size() || label < 0) throw std::invalid_argument(label_text);
    } catch (const std::exception&) {
      if (files_.empty() && line_number == 1) continue;  // a CSV header
      throw DataError(list_path + ":" + std::to_string(line_number) + ": label '" + label_text +
                      "' is not a non-negative integer");
    }
    largest = std::max(largest, label);
    files_.emplace_back((fs::path(image_root) / path).string(), label);
  }
  if (files_.empty()) throw DataError("file list '" + list_path + "' lists no images");
  num_classes_ = num_classes > 0 ? num_classes : largest + 1;
  if (largest >= num_classes_)
    throw DataError("file list '" + list_path + "' has label " + std::to_string(largest) +
                    " but num_classes is " + std::to_string(num_classes_));
}

}  // namespace vitrine::data
