#include "models/checkpoint/state_dict.h"

#include <ATen/ATen.h>
#include <torch/serialize.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "core/files.h"
#include "models/checkpoint/safetensors_file.h"
#include "models/checkpoint/torch_file.h"

namespace vitrine::models::checkpoint {
namespace {

using Kind = PyValue::Kind;

bool holds_tensors(const PyPtr& dict) {
  if (!dict || dict->kind != Kind::kDict) return false;
  for (const auto& [k, v] : dict->entries)
    if (k->kind == Kind::kString && v->kind == Kind::kTensor) return true;
  return false;
}

std::string shape(const at::Tensor& t) {
  return c10::str(t.sizes());
}

std::string abbreviated(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < 5; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > 5) out += ", ... (" + std::to_string(names.size()) + " in all)";
  return out;
}

}  // namespace

StateDict find_state_dict(const PyPtr& root, const std::string& source) {
  // A training checkpoint's weights sit under "state_dict" or "model" (next to optimiser
  // state, epochs, ...), BasicSR's under "params" (or only "params_ema"); a bare state dict is
  // the top level itself.
  PyPtr dict = root;
  for (const char* key : {"state_dict", "model", "params", "params_ema"})
    if (holds_tensors(root->get(key))) {
      dict = root->get(key);
      break;
    }
  if (!holds_tensors(dict))
    throw CheckpointError(source +
                          ": no state dict found (expected a dict of tensors, at the top "
                          "or under 'state_dict', 'model', 'params' or 'params_ema'; found " +
                          root->describe() + ")");
  StateDict out;
  bool all_prefixed = true;
  for (const auto& [k, v] : dict->entries) {
    if (k->kind != Kind::kString || v->kind != Kind::kTensor) continue;
    out.emplace_back(k->text, v->tensor);
    all_prefixed &= k->text.rfind("module.", 0) == 0;
  }
  if (all_prefixed)
    for (auto& entry : out) entry.first.erase(0, 7);
  return out;
}

StateDict load_state_dict_file(const std::string& path) {
  if (is_safetensors_file(path)) return read_safetensors(path);
  return find_state_dict(read_torch_file(path), path);
}

std::string LoadReport::describe() const {
  std::ostringstream out;
  out << loaded << " tensors loaded";
  if (!missing.empty()) out << "; missing: " << abbreviated(missing);
  if (!unexpected.empty()) out << "; unexpected: " << abbreviated(unexpected);
  if (!mismatched.empty()) out << "; shape mismatch: " << abbreviated(mismatched);
  return out.str();
}

StateDict state_dict_of(const torch::nn::Module& module) {
  StateDict out;
  for (const auto& p : module.named_parameters(true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : module.named_buffers(true)) out.emplace_back(b.key(), b.value());
  return out;
}

LoadReport load_state_dict(torch::nn::Module& module, const StateDict& state, bool strict,
                           const std::string& source) {
  std::map<std::string, at::Tensor> incoming(state.begin(), state.end());
  LoadReport report;
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;  // (destination, source)
  for (auto& [name, target] : state_dict_of(module)) {
    auto it = incoming.find(name);
    if (it == incoming.end()) {
      report.missing.push_back(name);
      continue;
    }
    if (!it->second.sizes().equals(target.sizes()))
      report.mismatched.push_back(name + ": checkpoint " + shape(it->second) + " vs model " +
                                  shape(target));
    else
      copies.emplace_back(target, it->second);
    incoming.erase(it);
  }
  for (const auto& [name, tensor] : state)
    if (incoming.count(name)) report.unexpected.push_back(name);
  if (strict && !report.clean())
    throw CheckpointError(source + ": state dict does not match the model (" + report.describe() +
                          "); model.pretrained_strict=false loads only the matching part");
  // Weights that are NaN or infinite would only show up later as garbage or a NaN loss.
  std::vector<std::string> non_finite;
  for (const auto& [name, tensor] : state)
    if (tensor.is_floating_point() && !at::isfinite(tensor).all().item<bool>())
      non_finite.push_back(name);
  if (!non_finite.empty())
    throw CheckpointError(source + ": non-finite values (NaN or inf) in " +
                          abbreviated(non_finite) + ": the weights are corrupt");
  torch::NoGradGuard no_grad;
  for (auto& [target, value] : copies) target.copy_(value);
  report.loaded = copies.size();
  return report;
}

void save_state_dict(const torch::nn::Module& module, const std::string& path) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, tensor] : state_dict_of(module))
    dict.insert(name, tensor.detach().contiguous());
  try {
    write_file_atomically(path, torch::pickle_save(dict));
  } catch (const std::runtime_error& e) {
    throw CheckpointError(std::string("cannot save checkpoint: ") + e.what());
  }
}

}  // namespace vitrine::models::checkpoint
