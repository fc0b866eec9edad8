// A labelled image dataset: random access by index, decoded to 8-bit pixels (RGB channel
// order, or one grey channel). Implementations are read-only after construction and safe to
// call from several loader threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <opencv2/core/mat.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace vitrine::data {

// A sample that cannot be read or decoded; the message names the file and the reason.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A file or folder the config names does not exist: a configuration problem (exit 2), not a
// bad sample.
class MissingDataError : public DataError {
 public:
  using DataError::DataError;
};

// A sample that reads fine but does not fit what the config asks (its channels, or a size
// that cannot share a batch): the fix is in the config, so the message names it instead of
// suggesting to skip the sample.
class SampleMismatchError : public DataError {
 public:
  using DataError::DataError;
};

struct Example {
  cv::Mat image;  // CV_8UC1 or CV_8UC3 (RGB)
  int64_t label = 0;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual int64_t num_classes() const = 0;
  // Label of sample `index` without decoding it.
  virtual int64_t label(int64_t index) const = 0;
  // Throws DataError for an unreadable sample.
  virtual Example get(int64_t index) const = 0;
  // Where sample `index` comes from, for messages ("train/cat/001.jpg", "t10k-images[17]").
  virtual std::string source(int64_t index) const = 0;
  // Class names in label order (empty when the format has none).
  virtual std::vector<std::string> classes() const { return {}; }
};
using DatasetPtr = std::shared_ptr<const Dataset>;

}  // namespace vitrine::data
