// MNIST-format (IDX) datasets: Fashion-MNIST as Debian's dataset-fashion-mnist installs it
// (/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz), MNIST,
// and anything else in that layout. Files may be gzip-compressed or plain. The whole split is
// held in memory (Fashion-MNIST train: 47 MB).
#pragma once

#include <string>
#include <vector>

#include "data/dataset.h"

namespace vitrine::data {

class IdxDataset : public Dataset {
 public:
  // `split` is "train" or "test" (file prefix t10k). `class_names` may be empty.
  IdxDataset(const std::string& root, const std::string& split,
             std::vector<std::string> class_names = {});

  int64_t size() const override { return count_; }
  int64_t num_classes() const override { return num_classes_; }
  int64_t label(int64_t index) const override { return labels_.at(index); }
  Example get(int64_t index) const override;
  std::string source(int64_t index) const override;
  std::vector<std::string> classes() const override { return class_names_; }

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }

 private:
  std::string images_path_;
  std::vector<uint8_t> pixels_;
  std::vector<uint8_t> labels_;
  std::vector<std::string> class_names_;
  int64_t count_ = 0, rows_ = 0, cols_ = 0, num_classes_ = 0;
};

// Fashion-MNIST's ten class names, in label order.
std::vector<std::string> fashion_mnist_classes();

// Reads a whole file, gunzipping it when it starts with the gzip magic. Throws DataError.
std::vector<uint8_t> read_maybe_gzipped(const std::string& path);

}  // namespace vitrine::data
