// ImageNet-style datasets on disk: a class-per-folder tree (torchvision's ImageFolder:
// root/<class>/**/<image>, classes sorted by name, files sorted within a class) and a file
// list (one "relative/path label" line per image, as in CSV/txt split files).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "data/dataset.h"

namespace vitrine::data {

class ImageFileDataset : public Dataset {
 public:
  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  int64_t num_classes() const override { return num_classes_; }
  int64_t label(int64_t index) const override { return files_.at(index).second; }
  Example get(int64_t index) const override;
  std::string source(int64_t index) const override { return files_.at(index).first; }
  std::vector<std::string> classes() const override { return classes_; }

 protected:
  ImageFileDataset(int channels) : channels_(channels) {}
  std::vector<std::pair<std::string, int64_t>> files_;  // (path, label)
  std::vector<std::string> classes_;
  int64_t num_classes_ = 0;
  int channels_ = 3;
};

class ImageFolderDataset : public ImageFileDataset {
 public:
  // `directory` holds one sub-directory per class. Throws DataError when it is missing, has
  // no class directories, or a class has no image.
  ImageFolderDataset(const std::string& directory, int channels);
};

class FileListDataset : public ImageFileDataset {
 public:
  // Each non-empty, non-'#' line of `list_path`: "<path><sep><label>" with sep a comma,
  // tab or spaces; paths relative to `image_root`. A first line whose label is not an
  // integer is taken as a CSV header. `num_classes` 0 = 1 + the largest label.
  FileListDataset(const std::string& list_path, const std::string& image_root, int channels,
                  int64_t num_classes);
};

}  // namespace vitrine::data
