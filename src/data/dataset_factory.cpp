#include "data/dataset_factory.h"

#include <sys/stat.h>

#include "core/error.h"
#include "data/idx_dataset.h"
#include "data/image_folder.h"

namespace vitrine::data {
namespace {

constexpr const char* kDebianFashionMnist = "/usr/share/datasets/fashion-mnist";

bool is_directory(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

}  // namespace

DatasetPtr make_dataset(const config::ConfigView& data, bool train) {
  const std::string format = data.get_string("format");
  const std::string root = data.get_string("root");
  const int channels = static_cast<int>(data.get_int("in_chans"));
  if (channels != 1 && channels != 3)
    throw ConfigError(data.path() + ".in_chans must be 1 or 3 for image data, got " +
                      std::to_string(channels));
  DatasetPtr dataset;
  if (format == "idx") {
    if (!is_directory(root)) {
      std::string hint = "set data.root to the folder holding the IDX files";
      if (root == kDebianFashionMnist)
        hint =
            "install Debian's package: sudo apt-get install dataset-fashion-mnist (or run "
            "tools/setup.sh), or " +
            hint;
      throw MissingDataError("dataset folder '" + root + "' does not exist: " + hint);
    }
    const std::string name = data.get_string("name", "");
    dataset = std::make_shared<IdxDataset>(
        root, train ? "train" : "test",
        name == "fashion_mnist" ? fashion_mnist_classes() : std::vector<std::string>{});
  } else if (format == "image_folder") {
    const std::string split = data.get_string(train ? "train_split" : "val_split");
    dataset = std::make_shared<ImageFolderDataset>(root + "/" + split, channels);
  } else if (format == "file_list") {
    const std::string list = data.get_string(train ? "train_list" : "val_list");
    dataset = std::make_shared<FileListDataset>(list, root, channels, data.get_int("num_classes"));
  } else {
    throw ConfigError(data.path() + ".format must be idx, image_folder or file_list, got '" +
                      format + "'");
  }
  const int64_t expected = data.get_int("num_classes");
  if (dataset->num_classes() > expected)
    throw DataError("the " + std::string(train ? "training" : "evaluation") + " data under '" +
                    root + "' has " + std::to_string(dataset->num_classes()) +
                    " classes but data.num_classes is " + std::to_string(expected));
  return dataset;
}

}  // namespace vitrine::data
