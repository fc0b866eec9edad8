#include "models/checkpoint/zip_crc.h"

#include <zlib.h>

#include <fstream>
#include <vector>

#include "models/checkpoint/pickle_reader.h"

namespace vitrine::models::checkpoint {
namespace {

uint64_t little(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::vector<char> read_range(std::ifstream& in, uint64_t offset, uint64_t size) {
  std::vector<char> out(size);
  in.seekg(static_cast<std::streamoff>(offset));
  if (!in.read(out.data(), static_cast<std::streamsize>(size)))
    throw CheckpointError("truncated zip archive");
  return out;
}

}  // namespace

uint32_t crc32_of(const void* data, size_t size) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  const auto* bytes = static_cast<const Bytef*>(data);
  while (size > 0) {  // zlib takes 32-bit lengths
    const uInt chunk = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    crc = ::crc32(crc, bytes, chunk);
    bytes += chunk;
    size -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

std::map<std::string, uint32_t> zip_record_crcs(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw CheckpointError("cannot open " + path);
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  // End of central directory: 22 bytes plus a comment of up to 64 KiB, at the end.
  const uint64_t tail_size = std::min<uint64_t>(file_size, 22 + 65535 + 20);
  const std::vector<char> tail = read_range(in, file_size - tail_size, tail_size);
  int64_t eocd = -1;
  for (int64_t i = static_cast<int64_t>(tail_size) - 22; i >= 0; --i)
    if (little(&tail[static_cast<size_t>(i)], 4) == 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd < 0) throw CheckpointError(path + ": no zip central directory (truncated file?)");
  const char* e = &tail[static_cast<size_t>(eocd)];
  uint64_t entries = little(e + 10, 2), cd_size = little(e + 12, 4), cd_offset = little(e + 16, 4);
  if (entries == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) {
    // ZIP64: a locator 20 bytes before the EOCD points at the ZIP64 end record.
    if (eocd < 20 || little(e - 20, 4) != 0x07064b50)
      throw CheckpointError(path + ": ZIP64 archive without its locator");
    const std::vector<char> z64 = read_range(in, little(e - 20 + 8, 8), 56);
    if (little(z64.data(), 4) != 0x06064b50)
      throw CheckpointError(path + ": bad ZIP64 end of central directory");
    entries = little(z64.data() + 32, 8);
    cd_size = little(z64.data() + 40, 8);
    cd_offset = little(z64.data() + 48, 8);
  }
  if (cd_offset + cd_size > file_size)
    throw CheckpointError(path + ": zip central directory runs past the end of the file");
  const std::vector<char> cd = read_range(in, cd_offset, cd_size);
  std::map<std::string, uint32_t> crcs;
  size_t at = 0;
  for (uint64_t n = 0; n < entries; ++n) {
    if (at + 46 > cd.size() || little(&cd[at], 4) != 0x02014b50)
      throw CheckpointError(path + ": corrupt zip central directory");
    const uint32_t crc = static_cast<uint32_t>(little(&cd[at + 16], 4));
    const size_t name_size = little(&cd[at + 28], 2), extra = little(&cd[at + 30], 2),
                 comment = little(&cd[at + 32], 2);
    if (at + 46 + name_size > cd.size())
      throw CheckpointError(path + ": corrupt zip central directory");
    std::string name(&cd[at + 46], name_size);
    const size_t slash = name.find('/');  // "<archive>/data/0" -> "data/0"
    if (slash != std::string::npos) name = name.substr(slash + 1);
    crcs[name] = crc;
    at += 46 + name_size + extra + comment;
  }
  return crcs;
}

}  // namespace vitrine::models::checkpoint
