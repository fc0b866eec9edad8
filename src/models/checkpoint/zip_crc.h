// The CRC-32 of every record of a zip archive, from its central directory (ZIP64 included, as
// torch.save writes large files). PyTorch's zip reader is built with miniz's CRC checks off,
// so a flipped byte inside a tensor loads silently; torch_file.cpp checks each record it reads
// against these.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace vitrine::models::checkpoint {

// Record name (without the archive's top folder, as PyTorchStreamReader names records:
// "data.pkl", "data/0") -> CRC-32. Throws CheckpointError when the directory cannot be read.
std::map<std::string, uint32_t> zip_record_crcs(const std::string& path);

// zlib's CRC-32 of a buffer.
uint32_t crc32_of(const void* data, size_t size);

}  // namespace vitrine::models::checkpoint
