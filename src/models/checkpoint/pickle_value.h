// The values a PyTorch checkpoint's pickle can hold, as a small tree: Python scalars, strings,
// containers, tensors, and opaque objects (a callable with its arguments and state) for the
// classes we do not interpret (argparse.Namespace, numpy scalars, ...).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace vitrine::models::checkpoint {

struct PyValue;
using PyPtr = std::shared_ptr<PyValue>;

struct PyValue {
  enum class Kind {
    kNone,
    kBool,
    kInt,
    kBigInt,
    kFloat,
    kString,
    kBytes,
    kList,
    kTuple,
    kDict,
    kTensor,
    kStorage,
    kGlobal,
    kObject
  };
  Kind kind = Kind::kNone;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  // kString, kBytes; kBigInt: the integer's little-endian two's-complement bytes; kGlobal:
  // "module.name".
  std::string text;
  std::vector<PyPtr> items;                      // kList, kTuple
  std::vector<std::pair<PyPtr, PyPtr>> entries;  // kDict, in insertion order
  at::Tensor tensor;                             // kTensor; kStorage: a 1-D tensor of its dtype
  PyPtr callable, args, state;                   // kObject

  static PyPtr make(Kind kind) {
    auto v = std::make_shared<PyValue>();
    v->kind = kind;
    return v;
  }
  bool is(Kind k) const { return kind == k; }
  // Dict lookup by string key; null when absent (or not a dict).
  PyPtr get(const std::string& key) const;
  // A short description for error messages ("dict", "tensor [3, 4] Float", "str 'x'").
  std::string describe() const;
};

}  // namespace vitrine::models::checkpoint
