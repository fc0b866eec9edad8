#include "models/checkpoint/torch_file.h"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <vector>

#include "models/checkpoint/zip_crc.h"

namespace vitrine::models::checkpoint {
namespace {

using Kind = PyValue::Kind;

// "torch.FloatStorage" -> float32, as torch.save names storages (also in PyTorch 2.x).
at::ScalarType storage_dtype(const PyPtr& type, const std::string& source) {
  static const std::map<std::string, at::ScalarType> kTypes = {
      {"FloatStorage", at::kFloat},
      {"DoubleStorage", at::kDouble},
      {"HalfStorage", at::kHalf},
      {"BFloat16Storage", at::kBFloat16},
      {"LongStorage", at::kLong},
      {"IntStorage", at::kInt},
      {"ShortStorage", at::kShort},
      {"CharStorage", at::kChar},
      {"ByteStorage", at::kByte},
      {"BoolStorage", at::kBool},
      {"ComplexFloatStorage", at::kComplexFloat},
      {"ComplexDoubleStorage", at::kComplexDouble},
      {"UntypedStorage", at::kByte}};
  const std::string name = type && type->kind == Kind::kGlobal ? type->text : "";
  const std::string prefix = "torch.";
  if (name.rfind(prefix, 0) == 0) {
    auto it = kTypes.find(name.substr(prefix.size()));
    if (it != kTypes.end()) return it->second;
  }
  throw CheckpointError(source + ": unsupported storage type '" + name + "'");
}

struct StorageId {
  at::ScalarType dtype;
  std::string key;
  int64_t numel;
  PyPtr view;  // legacy view metadata or null
};

// ('storage', storage_type, key, location, numel[, view_metadata])
StorageId parse_storage_id(const PyPtr& pid, const std::string& source) {
  if (!pid || pid->kind != Kind::kTuple || pid->items.size() < 5 ||
      pid->items[0]->kind != Kind::kString || pid->items[0]->text != "storage")
    throw CheckpointError(source + ": unsupported persistent id " + (pid ? pid->describe() : "?"));
  const auto& it = pid->items;
  StorageId id;
  id.dtype = storage_dtype(it[1], source);
  if (it[2]->kind == Kind::kString)
    id.key = it[2]->text;
  else if (it[2]->kind == Kind::kInt)
    id.key = std::to_string(it[2]->integer);
  else
    throw CheckpointError(source + ": storage key is " + it[2]->describe());
  if (it[4]->kind != Kind::kInt || it[4]->integer < 0)
    throw CheckpointError(source + ": storage size is " + it[4]->describe());
  id.numel = it[4]->integer;
  if (it.size() > 5 && it[5]->kind == Kind::kTuple) id.view = it[5];
  return id;
}

PyPtr storage_value(at::Tensor t) {
  PyPtr v = PyValue::make(Kind::kStorage);
  v->tensor = std::move(t);
  return v;
}

PyPtr read_zip(const std::string& path) {
  caffe2::serialize::PyTorchStreamReader archive(path);
  // Every record read is checked against the CRC-32 the archive stores for it.
  const std::map<std::string, uint32_t> crcs = zip_record_crcs(path);
  auto checked = [&](const std::string& record, const void* data, size_t size) {
    const auto it = crcs.find(record);
    if (it != crcs.end() && crc32_of(data, size) != it->second)
      throw CheckpointError(path + ": record " + record +
                            " fails its CRC-32 check: the file is corrupt");
  };
  if (archive.hasRecord("byteorder")) {
    auto [data, size] = archive.getRecord("byteorder");
    const std::string order(static_cast<const char*>(data.get()), size);
    if (order != "little")
      throw CheckpointError(path + ": written on a " + order + "-endian machine (unsupported)");
  }
  if (!archive.hasRecord("data.pkl"))
    throw CheckpointError(path + ": zip archive without data.pkl (not a torch.save file?)");
  auto [pickle, pickle_size] = archive.getRecord("data.pkl");
  checked("data.pkl", pickle.get(), pickle_size);
  std::map<std::string, PyPtr> storages;
  PersistentLoader load = [&](const PyPtr& pid) -> PyPtr {
    const StorageId id = parse_storage_id(pid, path);
    auto it = storages.find(id.key);
    if (it != storages.end()) return it->second;
    const std::string record = "data/" + id.key;
    if (!archive.hasRecord(record)) throw CheckpointError(path + ": missing record " + record);
    auto [data, size] = archive.getRecord(record);
    checked(record, data.get(), size);
    at::Tensor t = at::empty({id.numel}, at::TensorOptions().dtype(id.dtype));
    const size_t bytes = t.nbytes();
    if (size < bytes)
      throw CheckpointError(path + ": record " + record + " has " + std::to_string(size) +
                            " bytes, its storage needs " + std::to_string(bytes));
    std::memcpy(t.data_ptr(), data.get(), bytes);
    return storages[id.key] = storage_value(t);
  };
  ByteReader reader(static_cast<const char*>(pickle.get()), pickle_size, path);
  return unpickle(reader, load);
}

// The legacy format: pickles of the magic number, protocol version and system info, the
// object (storages as persistent ids), the list of storage keys; then per key an int64
// element count and the raw elements.
PyPtr read_legacy(const std::vector<char>& bytes, const std::string& path) {
  ByteReader reader(bytes.data(), bytes.size(), path);
  const PersistentLoader none;
  PyPtr magic = unpickle(reader, none);
  static const unsigned char kMagic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                         0x20, 0x6a, 0xa8, 0x50, 0x19};
  if (magic->kind != Kind::kBigInt ||
      magic->text != std::string(reinterpret_cast<const char*>(kMagic), sizeof(kMagic)))
    throw CheckpointError(path + ": not a PyTorch file (bad magic number)");
  PyPtr protocol = unpickle(reader, none);
  if (protocol->kind != Kind::kInt || protocol->integer != 1001)
    throw CheckpointError(path + ": unsupported legacy protocol " + protocol->describe());
  PyPtr sys_info = unpickle(reader, none);
  if (PyPtr little = sys_info->get("little_endian");
      little && little->kind == Kind::kBool && !little->boolean)
    throw CheckpointError(path + ": written on a big-endian machine (unsupported)");

  std::map<std::string, at::Tensor> storages;
  PersistentLoader load = [&](const PyPtr& pid) -> PyPtr {
    const StorageId id = parse_storage_id(pid, path);
    auto it = storages.find(id.key);
    if (it == storages.end())
      it = storages.emplace(id.key, at::empty({id.numel}, at::TensorOptions().dtype(id.dtype)))
               .first;
    at::Tensor storage = it->second;
    if (id.view) {  // (view_key, offset, view_size)
      const auto& v = id.view->items;
      if (v.size() != 3 || v[1]->kind != Kind::kInt || v[2]->kind != Kind::kInt ||
          v[1]->integer < 0 || v[1]->integer + v[2]->integer > storage.numel())
        throw CheckpointError(path + ": malformed storage view");
      storage = storage.narrow(0, v[1]->integer, v[2]->integer);
    }
    return storage_value(storage);
  };
  PyPtr root = unpickle(reader, load);
  PyPtr keys = unpickle(reader, none);
  if (keys->kind != Kind::kList) throw CheckpointError(path + ": storage key list missing");
  for (const PyPtr& key : keys->items) {
    if (key->kind != Kind::kString)
      throw CheckpointError(path + ": storage key is " + key->describe());
    auto it = storages.find(key->text);
    if (it == storages.end()) throw CheckpointError(path + ": unknown storage key " + key->text);
    int64_t count = 0;
    std::memcpy(&count, reader.take(sizeof(count)), sizeof(count));
    at::Tensor& storage = it->second;
    if (count != storage.numel())
      throw CheckpointError(path + ": storage " + key->text + " holds " + std::to_string(count) +
                            " elements, expected " + std::to_string(storage.numel()));
    std::memcpy(storage.data_ptr(), reader.take(storage.nbytes()), storage.nbytes());
  }
  return root;
}

}  // namespace

PyPtr read_torch_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw CheckpointError("cannot open checkpoint '" + path + "'");
  // The header decides the format; a zip archive is then read by PyTorch's own reader
  // record by record, so only legacy files are read whole here.
  char header[262] = {};
  file.read(header, sizeof(header));
  const auto header_size = static_cast<size_t>(file.gcount());
  if (header_size >= 4 && std::memcmp(header, "PK\x03\x04", 4) == 0) {
    try {
      return read_zip(path);
    } catch (const c10::Error& e) {
      throw CheckpointError(path + ": corrupt zip archive (" + e.what_without_backtrace() + ")");
    }
  }
  if (header_size == sizeof(header) && std::memcmp(header + 257, "ustar", 5) == 0)
    throw CheckpointError(path + ": tar-format checkpoint (PyTorch < 0.4) is not supported");
  if (header_size < 2 || static_cast<unsigned char>(header[0]) != 0x80)
    throw CheckpointError(path + ": not a PyTorch checkpoint (neither a zip archive nor a pickle)");
  file.clear();
  file.seekg(0);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(file)),
                                std::istreambuf_iterator<char>());
  return read_legacy(bytes, path);
}

}  // namespace vitrine::models::checkpoint
