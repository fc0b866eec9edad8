#include "data/idx_dataset.h"

#include <sys/stat.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace vitrine::data {
namespace {

bool exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

// The file for `stem` under root: stem.gz, else plain stem.
std::string locate(const std::string& root, const std::string& stem) {
  const std::string gz = root + "/" + stem + ".gz";
  if (exists(gz)) return gz;
  const std::string plain = root + "/" + stem;
  if (exists(plain)) return plain;
  throw MissingDataError("IDX dataset: neither '" + gz + "' nor '" + plain + "' exists");
}

uint32_t big_endian_u32(const std::vector<uint8_t>& bytes, size_t offset) {
  return (uint32_t{bytes[offset]} << 24) | (uint32_t{bytes[offset + 1]} << 16) |
         (uint32_t{bytes[offset + 2]} << 8) | uint32_t{bytes[offset + 3]};
}

// Validates an IDX header (magic 0x0000080N: unsigned bytes, N dimensions) and returns the
// dimensions.
std::vector<int64_t> idx_dims(const std::vector<uint8_t>& bytes, int expected_rank,
                              const std::string& path) {
  if (bytes.size() < 4u + 4u * expected_rank)
    throw DataError("IDX file '" + path + "' is truncated (" + std::to_string(bytes.size()) +
                    " bytes)");
  const uint32_t magic = big_endian_u32(bytes, 0);
  if (magic != 0x800u + static_cast<uint32_t>(expected_rank))
    throw DataError("'" + path + "' is not an IDX file of unsigned bytes with " +
                    std::to_string(expected_rank) + " dimensions (magic " + std::to_string(magic) +
                    ")");
  std::vector<int64_t> dims;
  size_t elements = 1;
  for (int i = 0; i < expected_rank; ++i) {
    dims.push_back(big_endian_u32(bytes, 4 + 4 * i));
    elements *= static_cast<size_t>(dims.back());
  }
  const size_t header = 4u + 4u * expected_rank;
  if (bytes.size() != header + elements)
    throw DataError("IDX file '" + path + "' holds " + std::to_string(bytes.size() - header) +
                    " data bytes, its header says " + std::to_string(elements));
  return dims;
}

}  // namespace

std::vector<uint8_t> read_maybe_gzipped(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError("cannot open '" + path + "': " + std::strerror(errno));
  std::vector<uint8_t> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (raw.size() < 2 || raw[0] != 0x1f || raw[1] != 0x8b) return raw;

  z_stream stream{};
  // 16 + MAX_WBITS: expect a gzip header.
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK)
    throw DataError("cannot start gzip decoding of '" + path + "'");
  std::vector<uint8_t> out(raw.size() * 4);
  stream.next_in = raw.data();
  stream.avail_in = static_cast<uInt>(raw.size());
  int status = Z_OK;
  while (status != Z_STREAM_END) {
    if (stream.total_out == out.size()) out.resize(out.size() * 2);
    stream.next_out = out.data() + stream.total_out;
    stream.avail_out = static_cast<uInt>(out.size() - stream.total_out);
    status = inflate(&stream, Z_NO_FLUSH);
    if (status != Z_OK && status != Z_STREAM_END) {
      inflateEnd(&stream);
      throw DataError("'" + path + "' is not a valid gzip file (" +
                      (stream.msg ? std::string(stream.msg) : "truncated") + ")");
    }
    if (status == Z_OK && stream.avail_in == 0 && stream.avail_out != 0) {
      inflateEnd(&stream);
      throw DataError("'" + path + "' is a truncated gzip file");
    }
  }
  out.resize(stream.total_out);
  inflateEnd(&stream);
  return out;
}

IdxDataset::IdxDataset(const std::string& root, const std::string& split,
                       std::vector<std::string> class_names)
    : class_names_(std::move(class_names)) {
  if (split != "train" && split != "test")
    throw DataError("IDX dataset split must be 'train' or 'test', got '" + split + "'");
  const std::string prefix = split == "train" ? "train" : "t10k";
  images_path_ = locate(root, prefix + "-images-idx3-ubyte");
  const std::string labels_path = locate(root, prefix + "-labels-idx1-ubyte");

  std::vector<uint8_t> images = read_maybe_gzipped(images_path_);
  std::vector<uint8_t> labels = read_maybe_gzipped(labels_path);
  const std::vector<int64_t> image_dims = idx_dims(images, 3, images_path_);
  const std::vector<int64_t> label_dims = idx_dims(labels, 1, labels_path);
  if (image_dims[0] != label_dims[0])
    throw DataError("'" + images_path_ + "' has " + std::to_string(image_dims[0]) +
                    " images but '" + labels_path + "' has " + std::to_string(label_dims[0]) +
                    " labels");
  count_ = image_dims[0];
  rows_ = image_dims[1];
  cols_ = image_dims[2];
  pixels_.assign(images.begin() + 16, images.end());
  labels_.assign(labels.begin() + 8, labels.end());
  for (uint8_t l : labels_) num_classes_ = std::max<int64_t>(num_classes_, int64_t{l} + 1);
  if (!class_names_.empty() && static_cast<int64_t>(class_names_.size()) < num_classes_)
    throw DataError("'" + labels_path + "' has label " + std::to_string(num_classes_ - 1) +
                    " but only " + std::to_string(class_names_.size()) + " class names");
  if (!class_names_.empty()) num_classes_ = static_cast<int64_t>(class_names_.size());
}

Example IdxDataset::get(int64_t index) const {
  if (index < 0 || index >= count_)
    throw DataError("sample " + std::to_string(index) + " out of range for '" + images_path_ +
                    "' (" + std::to_string(count_) + " images)");
  Example example;
  // Copied, so transforms may work in place without touching the dataset.
  example.image = cv::Mat(static_cast<int>(rows_), static_cast<int>(cols_), CV_8UC1,
                          const_cast<uint8_t*>(pixels_.data() + index * rows_ * cols_))
                      .clone();
  example.label = labels_[static_cast<size_t>(index)];
  return example;
}

std::string IdxDataset::source(int64_t index) const {
  return images_path_ + "[" + std::to_string(index) + "]";
}

std::vector<std::string> fashion_mnist_classes() {
  return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
}

}  // namespace vitrine::data
