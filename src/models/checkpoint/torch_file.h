// Reads files written by PyTorch's torch.save: the zip format (PyTorch >= 1.6, also what
// torch::pickle_save writes) and the legacy format (a sequence of pickles followed by raw
// storages). Tensors come back as CPU tensors; nothing in the file is executed.
#pragma once

#include <string>

#include "models/checkpoint/pickle_reader.h"

namespace vitrine::models::checkpoint {

// Throws CheckpointError naming `path` for a missing, truncated, corrupt or unsupported file.
PyPtr read_torch_file(const std::string& path);

}  // namespace vitrine::models::checkpoint
