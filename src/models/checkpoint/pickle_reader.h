// A pickle virtual machine for the subset of opcodes (protocols 0-5) that torch.save emits
// for checkpoints, interpreting the classes checkpoints are made of (OrderedDict, the
// torch._utils tensor rebuilders, _codecs.encode for protocol-2 bytes) and keeping every
// other class as an opaque object. Persistent ids (tensor storages) go to a callback.
// Written for .pth files; it executes no code and imports nothing.
#pragma once

#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>

#include "models/checkpoint/pickle_value.h"

namespace vitrine::models::checkpoint {

// A malformed or unsupported checkpoint; the message names the file and the problem.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads bytes sequentially from a buffer; throws CheckpointError past the end.
class ByteReader {
 public:
  ByteReader(const char* data, size_t size, std::string source)
      : data_(data), size_(size), source_(std::move(source)) {}
  const char* take(size_t n);
  uint8_t byte() { return static_cast<uint8_t>(*take(1)); }
  std::string line();  // up to (not including) '\n'
  size_t position() const { return position_; }
  size_t remaining() const { return size_ - position_; }
  const std::string& source() const { return source_; }

 private:
  const char* data_;
  size_t size_;
  size_t position_ = 0;
  std::string source_;
};

// Resolves a persistent id (the pickled tuple) to a value, usually a kStorage.
using PersistentLoader = std::function<PyPtr(const PyPtr& pid)>;

// Runs one pickle (up to its STOP opcode) from `reader`'s current position.
PyPtr unpickle(ByteReader& reader, const PersistentLoader& persistent_load);

}  // namespace vitrine::models::checkpoint
