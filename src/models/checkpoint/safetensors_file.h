// Hugging Face's safetensors files (timm's and the Hub's weights): an 8-byte little-endian
// header length, a JSON header mapping each tensor name to its dtype, shape and byte range,
// then the raw little-endian data. Read without executing anything, as the format intends.
#pragma once

#include <string>

#include "models/checkpoint/state_dict.h"

namespace vitrine::models::checkpoint {

// True when `path` looks like a safetensors file (its name, or a JSON header after 8 bytes).
bool is_safetensors_file(const std::string& path);

// Every tensor of the file, in header order ("__metadata__" skipped). Throws CheckpointError
// naming the file and what is wrong (truncated, bad header, unknown dtype, bad byte range).
StateDict read_safetensors(const std::string& path);

}  // namespace vitrine::models::checkpoint
