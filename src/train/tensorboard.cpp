#include "train/tensorboard.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace vitrine::train {
namespace {

std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    table[i] = c;
  }
  return table;
}

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

template <typename T>
void put_fixed(std::string& out, T v) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));  // protobuf fixed fields are little-endian, as is x86
  out.append(bytes, sizeof(T));
}

void put_bytes_field(std::string& out, int field, const std::string& bytes) {
  put_varint(out, (static_cast<uint64_t>(field) << 3) | 2);
  put_varint(out, bytes.size());
  out += bytes;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Event { double wall_time = 1; int64 step = 2; oneof { string file_version = 3;
// Summary summary = 5; } }
std::string event(double wall_time, int64_t step) {
  std::string out;
  put_varint(out, (1 << 3) | 1);
  put_fixed(out, wall_time);
  put_varint(out, (2 << 3) | 0);
  put_varint(out, static_cast<uint64_t>(step));
  return out;
}

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  static const std::array<uint32_t, 256> table = make_crc_table();
  const auto* bytes = static_cast<const uint8_t*>(data);
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ bytes[i]) & 0xff] ^ (crc >> 8);
  return crc ^ 0xffffffffu;
}

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

TensorBoardWriter::TensorBoardWriter(const std::string& directory) {
  char host[256] = "localhost";
  ::gethostname(host, sizeof(host) - 1);
  path_ = directory + "/events.out.tfevents." +
          std::to_string(static_cast<int64_t>(now_seconds())) + "." + host;
  file_ = std::fopen(path_.c_str(), "ab");
  if (!file_) throw std::runtime_error("cannot create TensorBoard event file '" + path_ + "'");
  std::string first = event(now_seconds(), 0);
  put_bytes_field(first, 3, "brain.Event:2");
  write_record(first);
  flush();
}

TensorBoardWriter::~TensorBoardWriter() {
  if (file_) std::fclose(file_);
}

void TensorBoardWriter::add_scalar(const std::string& tag, double value, int64_t step) {
  // Summary { repeated Value value = 1; }  Value { string tag = 1; float simple_value = 2; }
  std::string value_message;
  put_bytes_field(value_message, 1, tag);
  put_varint(value_message, (2 << 3) | 5);
  put_fixed(value_message, static_cast<float>(value));
  std::string summary;
  put_bytes_field(summary, 1, value_message);
  std::string e = event(now_seconds(), step);
  put_bytes_field(e, 5, summary);
  write_record(e);
}

void TensorBoardWriter::write_record(const std::string& payload) {
  std::string record;
  const uint64_t length = payload.size();
  put_fixed(record, length);
  put_fixed(record, masked_crc32c(&length, sizeof(length)));
  record += payload;
  put_fixed(record, masked_crc32c(payload.data(), payload.size()));
  std::fwrite(record.data(), 1, record.size(), file_);
}

void TensorBoardWriter::flush() {
  std::fflush(file_);
}

}  // namespace vitrine::train
