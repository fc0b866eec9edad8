// TensorBoard event files (scalars only), written without TensorFlow: TFRecord framing
// (length, masked CRC-32C of the length, payload, masked CRC-32C of the payload) around
// hand-encoded Event protobufs, as TensorBoard's EventFileWriter produces.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace vitrine::train {

// CRC-32C (Castagnoli), and TFRecord's masking of it.
uint32_t crc32c(const void* data, size_t size);
uint32_t masked_crc32c(const void* data, size_t size);

class TensorBoardWriter {
 public:
  // Creates `<directory>/events.out.tfevents.<seconds>.<host>` and writes the file-version
  // event. Throws std::runtime_error when the file cannot be created.
  explicit TensorBoardWriter(const std::string& directory);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  void add_scalar(const std::string& tag, double value, int64_t step);
  void flush();
  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& payload);
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace vitrine::train
