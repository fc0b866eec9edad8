// State dicts in PyTorch's naming (module paths joined by '.'): find one inside a checkpoint,
// load it into a module with a report of what did not match, and save a module's own in
// torch.save's zip format (loadable by torch.load in Python and by load_state_dict_file).
#pragma once

#include <torch/nn/module.h>

#include <string>
#include <utility>
#include <vector>

#include "models/checkpoint/pickle_reader.h"

namespace vitrine::models::checkpoint {

using StateDict = std::vector<std::pair<std::string, at::Tensor>>;

// The state dict of a checkpoint: the dict of tensors under "state_dict" or "model" (timm,
// mmcv, training checkpoints), else the top-level dict (the official NAT checkpoints), with a
// DataParallel "module." prefix removed. Non-tensor entries are ignored.
StateDict find_state_dict(const PyPtr& root, const std::string& source);
// The state dict in a weights file: a safetensors file (safetensors_file.h), else
// read_torch_file + find_state_dict.
StateDict load_state_dict_file(const std::string& path);

struct LoadReport {
  std::vector<std::string> missing;     // in the module, not in the state dict
  std::vector<std::string> unexpected;  // in the state dict, not in the module
  std::vector<std::string> mismatched;  // "name: checkpoint [..] vs model [..]"
  size_t loaded = 0;
  bool clean() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  std::string describe() const;  // one line per problem kind, names abbreviated past 5
};

// Copies matching entries (by name and shape; dtype converted) into the module's parameters
// and buffers. With `strict`, any missing, unexpected or mismatched entry is an error
// (CheckpointError naming `source` and the problems) and nothing is copied.
LoadReport load_state_dict(torch::nn::Module& module, const StateDict& state, bool strict,
                           const std::string& source);

// Parameters then buffers, by full name.
StateDict state_dict_of(const torch::nn::Module& module);

// Writes the module's state dict to `path` atomically (a temporary file renamed over it), so
// an interrupted save never destroys the previous file.
void save_state_dict(const torch::nn::Module& module, const std::string& path);

}  // namespace vitrine::models::checkpoint
