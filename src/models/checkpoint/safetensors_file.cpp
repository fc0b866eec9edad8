#include "models/checkpoint/safetensors_file.h"

#include <ATen/ATen.h>
#include <simdjson.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <vector>

namespace vitrine::models::checkpoint {
namespace {

at::ScalarType dtype_of(std::string_view name, const std::string& where) {
  static const std::map<std::string_view, at::ScalarType> kTypes = {
      {"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf},  {"BF16", at::kBFloat16},
      {"I64", at::kLong},   {"I32", at::kInt},   {"I16", at::kShort}, {"I8", at::kChar},
      {"U8", at::kByte},    {"BOOL", at::kBool}};
  const auto it = kTypes.find(name);
  if (it == kTypes.end())
    throw CheckpointError(where + ": dtype " + std::string(name) + " is not supported");
  return it->second;
}

std::vector<char> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CheckpointError("cannot open " + path);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

bool is_safetensors_file(const std::string& path) {
  if (path.size() > 12 && path.compare(path.size() - 12, 12, ".safetensors") == 0) return true;
  std::ifstream in(path, std::ios::binary);
  char head[9] = {};
  return in.read(head, 9) && head[8] == '{';
}

StateDict read_safetensors(const std::string& path) {
  const std::vector<char> bytes = read_all(path);
  if (bytes.size() < 8) throw CheckpointError(path + ": truncated safetensors file");
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i)
    header_size = (header_size << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  if (header_size > bytes.size() - 8)
    throw CheckpointError(path + ": safetensors header of " + std::to_string(header_size) +
                          " bytes runs past the end of the file");
  const size_t data_start = 8 + static_cast<size_t>(header_size);
  const size_t data_size = bytes.size() - data_start;

  simdjson::dom::parser parser;
  simdjson::dom::element header;
  if (parser.parse(bytes.data() + 8, static_cast<size_t>(header_size)).get(header) ||
      !header.is_object())
    throw CheckpointError(path + ": the safetensors header is not a JSON object");
  StateDict out;
  for (const auto field : header.get_object()) {
    const std::string name(field.key);
    if (name == "__metadata__") continue;
    const std::string where = path + ": tensor '" + name + "'";
    std::string_view dtype;
    simdjson::dom::array shape, offsets;
    if (field.value["dtype"].get(dtype) || field.value["shape"].get(shape) ||
        field.value["data_offsets"].get(offsets))
      throw CheckpointError(where + " lacks dtype, shape or data_offsets");
    std::vector<int64_t> sizes;
    for (const auto d : shape) {
      int64_t v = 0;
      if (d.get(v) || v < 0) throw CheckpointError(where + ": bad shape");
      sizes.push_back(v);
    }
    std::vector<uint64_t> range;
    for (const auto o : offsets) {
      uint64_t v = 0;
      if (o.get(v)) throw CheckpointError(where + ": bad data_offsets");
      range.push_back(v);
    }
    const at::ScalarType type = dtype_of(dtype, where);
    int64_t count = 1;
    for (int64_t s : sizes) count *= s;
    const uint64_t expected = static_cast<uint64_t>(count) * at::elementSize(type);
    if (range.size() != 2 || range[0] > range[1] || range[1] > data_size ||
        range[1] - range[0] != expected)
      throw CheckpointError(where + ": data_offsets do not hold its " + std::to_string(count) +
                            " elements within the file");
    at::Tensor t = at::empty(sizes, at::TensorOptions().dtype(type));
    if (expected > 0) std::memcpy(t.data_ptr(), bytes.data() + data_start + range[0], expected);
    out.emplace_back(name, std::move(t));
  }
  return out;
}

}  // namespace vitrine::models::checkpoint
